"""Every test's app is on the test's own database (``tests/conftest.py``: ``app``, ``make_app``, ``app_on``), so
nothing one test writes — card log, feedback, snoozes, replayed token ids — reaches another. A module that calls
``create_app`` itself is listed here with the reason; any other call is a test on the shared default database."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CALLS_CREATE_APP = {
    "conftest.py": "the fixtures themselves",
    "security/test_unsafe_settings.py": "create_app's own refusals at start (a refused start makes no app)",
    "security/test_low_findings.py": "create_app's refusal of a missing hash key; its migration of a new database",
    "pilot/test_profile_choice.py": "create_app's own refusal without a chosen profile, and its default",
    "security/test_bounded_text.py": "a child process (hard timeout), given the test's database_url",
    "fhir/test_fallback_bounds.py": "a child process (its memory measured), given the test's database_url",
}


def _callers() -> set[str]:
    found = set()
    for path in TESTS.rglob("*.py"):
        if path == Path(__file__).resolve():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id == "create_app"]
        # the child processes' scripts are strings: a call there is found by its text
        texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                 and isinstance(node.value, str) and "create_app({" in node.value]
        if calls or texts:
            found.add(path.relative_to(TESTS).as_posix())
    return found


def test_apps_are_made_only_through_the_per_test_database_fixtures() -> None:
    assert _callers() == set(CALLS_CREATE_APP), "make apps with the `make_app` or `app` fixture (tests/conftest.py)"
