"""The history stays scannable: every commit subject after a fixed commit is at most 72 characters (the detail goes
in the body; CONTRIBUTING, Landing). Older subjects are left as they are — ``main``'s history is never rewritten.

Runs on any checkout with git history: a shallow clone checks the commits it has (all later than the fixed commit
when that one is missing). Without history (an unpacked archive, no git) there is nothing to check: the test is
skipped and says so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SINCE = "784f69ebea08e6be671206c7f07139e15c43be43"
"""``main`` when the rule was adopted (2026-12-04, "CHANGELOG: the complete OpenAPI description")."""
MAX_SUBJECT = 72
LANDED_LONGER: dict[str, str] = {
    "bd55beb210b60ad1da2790f3e2a5ed648cfbc299": "73 characters, landed before the check did",
}
"""Commits already on ``main`` with a longer subject (history is not rewritten), by full hash: why each is kept."""


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)


def _subjects() -> list[tuple[str, str]]:
    if shutil.which("git") is None or _git("rev-parse", "--verify", "-q", "HEAD").returncode != 0:
        pytest.skip("no git history in this checkout: commit subjects cannot be checked")
    known = _git("cat-file", "-e", f"{SINCE}^{{commit}}").returncode == 0
    if not known and _git("rev-parse", "--is-shallow-repository").stdout.strip() != "true":
        pytest.fail(f"{SINCE[:12]} is not in this repository's full history: was main rewritten?")
    log = _git("log", "--format=%H %s", "HEAD", *([f"^{SINCE}"] if known else []))
    assert log.returncode == 0, log.stderr
    return [(line[:40], line[41:]) for line in log.stdout.splitlines()]


def test_commit_subjects_are_at_most_72_characters() -> None:
    long = [f"{sha[:10]} ({len(subject)}): {subject}" for sha, subject in _subjects()
            if len(subject) > MAX_SUBJECT and sha not in LANDED_LONGER]
    assert not long, ("commit subjects over 72 characters — shorten them before landing (git rebase -i main, "
                      "'reword'), the detail goes in the body:\n" + "\n".join(long))
