"""The installed package's version (what ``--version`` prints) and the knowledge version cards name.

The knowledge version is the release plus a content hash of the knowledge: every rule module and data table
under ``cds_service/clinical`` (docs/service-contract.md §9: cards carry the knowledge version). A rule,
threshold or data file that changes after a release changes the version cards carry, without anyone having to
remember to bump it (CHANGELOG "Versions").
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

KNOWLEDGE_ROOT = Path(__file__).parent / "clinical"
_KNOWLEDGE_SUFFIXES = (".py", ".json", ".csv")


@cache
def package_version() -> str:
    try:
        return version("bzd-taper-cds")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def knowledge_files(root: Path = KNOWLEDGE_ROOT) -> list[Path]:
    """The rule modules and data tables, in a fixed order (paths relative to ``root``)."""
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and p.suffix in _KNOWLEDGE_SUFFIXES and "__pycache__" not in p.parts)


def knowledge_hash(root: Path = KNOWLEDGE_ROOT) -> str:
    """First 10 hex digits of a SHA-256 over each knowledge file's path and content."""
    digest = hashlib.sha256()
    for relative in knowledge_files(root):
        content = (root / relative).read_bytes().replace(b"\r\n", b"\n")  # a Windows checkout is the same knowledge
        digest.update(relative.as_posix().encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    return digest.hexdigest()[:10]


@cache
def knowledge_version() -> str:
    """``<release>+k<hash>``, e.g. ``0.2.0+k3f9a02c1d4``: the release the rules shipped in and exactly which rules."""
    return f"{package_version()}+k{knowledge_hash()}"
