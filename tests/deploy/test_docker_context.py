"""The Docker build context (.dockerignore): what the Dockerfile copies is sent, nothing else — in
particular not the virtualenv (hundreds of MB), the SQLite data under var/, or the git history."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sent(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    sent = True
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatch(part, pattern) or fnmatch.fnmatch(part, pattern + "/*") or pattern == "**"
               for part in [path, *(str(p) for p in Path(path).parents if str(p) != ".")]):
            sent = negated
    return sent


def test_context_holds_what_the_dockerfile_copies_and_not_the_rest() -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    copied = [source for line in (ROOT / "deploy/Dockerfile").read_text().splitlines()
              if (m := re.match(r"COPY (?!--from)(.+) \S+$", line)) for source in m.group(1).split()]
    assert copied, "the Dockerfile copies sources from the context"
    for source in copied:
        assert _sent(source, rules), source
    assert _sent("cds_service/clinical/terminology/products.json", rules)
    assert _sent("cds_service/templates/taper_plan.html", rules)
    for kept_out in (".venv/bin/python", "var/bzd-taper-cds.db", ".git/HEAD", "tests/conftest.py",
                     "fhir_fixtures/x/request.json", "cds_service/__pycache__/config.cpython-311.pyc"):
        assert not _sent(kept_out, rules), kept_out
