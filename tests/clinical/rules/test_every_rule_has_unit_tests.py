"""Every rule module has a unit-test module of its own, ``tests/clinical/rules/test_<module>.py``, that calls its
``evaluate(facts)`` on small records built in the test (``tests/utils/facts.py``): the rule's numbers and the
gates that keep it silent, checked without HTTP or the engine (CONTRIBUTING, How to add a rule)."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import cds_service.clinical.rules as rules

HERE = Path(__file__).resolve().parent


def test_every_rule_module_has_its_unit_test_module() -> None:
    modules = [info.name for info in pkgutil.iter_modules(rules.__path__) if not info.name.startswith("_")]
    assert len(modules) >= 17
    assert [name for name in modules if not (HERE / f"test_{name}.py").exists()] == []
