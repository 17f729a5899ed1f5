"""The runtime dependencies are locked: ``requirements.lock`` pins every one, transitive ones too, with hashes;
it agrees with the pins in ``pyproject.toml``, and the environment the tests run in has exactly its versions
(README "Security": dependencies)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, str, list[str]]]:
    """name → (version, environment marker, hashes) of each entry of requirements.lock."""
    entries: dict[str, tuple[str, str, list[str]]] = {}
    text = (ROOT / "requirements.lock").read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        requirement, _, marker = head.partition(";")
        name, _, version = requirement.strip().partition("==")
        entries[_name(name)] = (version, marker.strip(), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return entries


def test_every_entry_is_pinned_exactly_with_hashes() -> None:
    entries = locked()
    assert len(entries) >= 30
    for name, (version, _marker, hashes) in entries.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version), name
        assert hashes, f"{name} has no hash"


def test_the_lock_agrees_with_the_pins_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entries = locked()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        [pin] = list(requirement.specifier)
        assert pin.operator == "==", line
        assert entries[_name(requirement.name)][0] == pin.version, line


def test_the_installed_runtime_dependencies_are_the_locked_ones() -> None:
    """What ``make test`` (and CI) installed is exactly the lock: the test tools did not move a runtime
    dependency, and nothing runs on a version the lock does not name."""
    for name, (version, marker, _hashes) in locked().items():
        if marker and not Requirement(f"x; {marker}").marker.evaluate():  # type: ignore[union-attr]
            continue
        assert metadata.version(name) == version, name
