"""The repository cites only what a reader of it can open: its own docs (``docs/clinical-reference.md §N``,
``docs/service-contract.md §N``) and published sources — never planning documents that live outside it, paths
outside it, or issue numbers of a tracker the reader does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "a planning document outside the repository": re.compile(
        r"(?<![/\w-])(?:clinical|service-contract|cds-hooks|architecture)\.md", re.IGNORECASE),
    "a path outside the repository": re.compile(r"\.\./shared\b|/work/shared\b|\bshared/(?:spec|seed|data)/"),
    "an issue number": re.compile(r"\bissues? #\d+|\(#\d+\)", re.IGNORECASE),
}


def _tracked_text_files() -> dict[str, str]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    texts = {}
    for name in names.decode().split("\0"):
        path = ROOT / name
        if not name or name == "tests/test_self_contained.py" or not path.is_file():
            continue
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images
            continue
    return texts


def test_no_file_cites_a_document_that_is_not_in_the_repository() -> None:
    found = [f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {what}: {match.group(0)!r}"
             for name, text in _tracked_text_files().items()
             for what, pattern in FORBIDDEN.items() for match in pattern.finditer(text)]
    assert not found, "\n".join(found)


def test_the_docs_cited_exist_with_the_sections_cited() -> None:
    """Every ``docs/<name>.md §N`` citation points at a file of the repository that has a section N."""
    headings = {path.relative_to(ROOT).as_posix(): set(re.findall(r"^#{2,3} (\d+[a-z]?)\.", path.read_text(
        encoding="utf-8"), re.MULTILINE)) for path in (ROOT / "docs").glob("*.md")}
    citation = re.compile(r"(docs/[\w-]+\.md)`? (§[\d.a-z]+(?:\s*(?:,|–|and)\s*§?[\d.a-z]+)*)")
    missing = []
    for name, text in _tracked_text_files().items():
        for match in citation.finditer(text):
            doc = match.group(1)
            if doc not in headings:
                missing.append(f"{name}: {doc} does not exist")
                continue
            for section in re.findall(r"(\d+[a-z]?)(?:\.\d+)*", match.group(2)):  # an item N.M is checked as section N
                if section not in headings[doc]:
                    missing.append(f"{name}: {doc} has no §{section}")
    assert not missing, "\n".join(sorted(set(missing)))


def test_the_check_finds_what_it_looks_for() -> None:
    samples = ["see clinical.md §6b", "(service-contract.md §5)", "Clinical.md §6d", "../shared/data/valuesets",
               "(issue #7)", "issue #4 item 1", "fixed in (#12)"]
    assert all(any(p.search(sample) for p in FORBIDDEN.values()) for sample in samples)
    allowed = ["docs/clinical-reference.md §6b", "docs/service-contract.md §9", "[contract](./service-contract.md)",
               "§6d #12", "CDS Hooks 2.0"]
    assert not any(p.search(sample) for sample in allowed for p in FORBIDDEN.values())
