"""Cards name the knowledge that produced them: the release plus a content hash of every rule module and data
table under ``cds_service/clinical``. A change to any rule, threshold or table changes the version cards carry."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cds_service.version import KNOWLEDGE_ROOT, knowledge_files, knowledge_hash, knowledge_version, package_version

FILES = [str(path) for path in knowledge_files()]


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("knowledge") / "clinical"
    shutil.copytree(KNOWLEDGE_ROOT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_version_is_the_release_and_the_hash_of_the_knowledge_as_it_is() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\+k[0-9a-f]{10}", knowledge_version())
    assert knowledge_version() == f"{package_version()}+k{knowledge_hash()}"
    for needed in ("profiles.json", "renal_dosing.json", "terminology/equivalence.json", "rules/taper_too_fast.py"):
        assert needed in FILES


@pytest.mark.parametrize("relative", FILES)
def test_changing_any_knowledge_file_changes_the_version(copy: Path, relative: str) -> None:
    before = knowledge_hash(copy)
    assert before == knowledge_hash(), "a faithful copy has the same version"
    path = copy / relative
    original = path.read_bytes()
    try:
        path.write_bytes(original + b" ")
        assert knowledge_hash(copy) != before, f"{relative} changed and the knowledge version did not"
    finally:
        path.write_bytes(original)


def test_a_new_data_table_changes_the_version(copy: Path) -> None:
    before = knowledge_hash(copy)
    (copy / "new_table.json").write_text("{}")
    try:
        assert knowledge_hash(copy) != before
    finally:
        (copy / "new_table.json").unlink()
