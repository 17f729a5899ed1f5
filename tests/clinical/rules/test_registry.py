"""The rule registry: every module under ``cds_service/clinical/rules/`` is one rule, declared once at its top
(CONTRIBUTING.md, "How to add a rule"), and what the service derives from the declarations agrees with the
service contract (docs/service-contract.md §5)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

from cds_service.clinical import engine, rules
from cds_service.clinical.cards import CARD_TYPES
from cds_service.clinical.rules import PRECEDENCE, RULE_BY_TYPE, RULES

CONTRACT = (Path(__file__).resolve().parents[3] / "docs/service-contract.md").read_text(encoding="utf-8")


def test_every_module_of_the_rules_package_is_a_registered_rule_declared_once() -> None:
    modules = [info.name for info in pkgutil.iter_modules(rules.__path__) if not info.name.startswith("_")]
    assert len(RULES) == len(modules) == len(RULE_BY_TYPE)
    for name in modules:
        module = importlib.import_module(f"cds_service.clinical.rules.{name}")
        assert module.DECLARATION.card_type == module.CARD_TYPE == name.replace("_", "-")
        assert RULE_BY_TYPE[module.CARD_TYPE].evaluate is module.evaluate


def test_ranks_are_unique_and_the_rules_run_in_rank_order() -> None:
    ranks = [rule.declaration.rank for rule in RULES]
    assert ranks == sorted(set(ranks))
    assert list(CARD_TYPES) == [rule.card_type for rule in RULES]


def test_each_rule_declares_the_indicators_the_service_contract_gives_its_card() -> None:
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", CONTRACT, re.MULTILINE))
    for rule in RULES:
        named = set(re.findall(r"\b(info|warning|critical)\b", rows[rule.card_type]))
        assert set(rule.declaration.indicators) == named, rule.card_type


def test_rate_cards_and_the_precedence_policy_are_the_declared_ones() -> None:
    assert engine.RATE_CARDS == {"abrupt-discontinuation", "taper-too-fast", "long-term-rate", "conversion-ambiguity"}
    # docs/clinical-reference.md §8c: the conversion-ambiguity card is the one card about an ambiguous switch;
    # §6b: the abrupt-discontinuation card covers a step that is also too fast
    assert {card: winners for card, winners in PRECEDENCE.items() if winners} == {
        "abrupt-discontinuation": ("conversion-ambiguity",),
        "taper-too-fast": ("abrupt-discontinuation", "conversion-ambiguity"),
        "long-term-rate": ("conversion-ambiguity",),
        "older-adult": ("conversion-ambiguity",),
    }
    for rule in RULES:
        assert set(rule.declaration.outranks) <= set(RULE_BY_TYPE) - {rule.card_type}
        assert (rule.speaks_for is not None) == bool(rule.declaration.outranks), rule.card_type


def test_no_rule_module_imports_another() -> None:
    """Precedence is the policy table (``rules.outranked``) and shared facts live outside the rules
    (``clinical/duplication.py``): a rule module imports no other rule module."""
    modules = {rule.evaluate.__module__.rsplit(".", 1)[1] for rule in RULES}
    for rule in RULES:
        tree = ast.parse(Path(importlib.import_module(rule.evaluate.__module__).__file__ or "").read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cds_service.clinical.rules"):
                imported = {node.module.rsplit(".", 1)[1]} if node.module != "cds_service.clinical.rules" \
                    else {alias.name for alias in node.names}
                assert not imported & modules, (rule.card_type, imported)
