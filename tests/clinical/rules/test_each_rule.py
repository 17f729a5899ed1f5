"""Each rule called directly on the facts of the scenario folders (``fhir_fixtures/``) — no HTTP, no snooze,
no alert discipline: a rule fires where its scenario shows its card, with the same indicator, and stays
silent where a scenario says its card must be absent. The HTTP scenarios (tests/scenarios) check the whole call."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from cds_service.clinical.engine import MAX_CARDS
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.rules import RULES, Rule
from tests.utils import scenarios
from tests.utils.scenarios import NAMES as SCENARIOS


@cache
def expected(name: str) -> dict[str, Any]:
    return scenarios.expected(name)


@cache
def facts(name: str) -> ClinicalFacts:
    return scenarios.scenario_facts(name)


def shown(rule: Rule) -> list[tuple[str, str]]:
    """(scenario, indicator) for every scenario that shows this rule's card."""
    return [(name, card["indicator"]) for name in SCENARIOS for card in expected(name)["cards"]
            if card["type"] == rule.card_type]


@pytest.mark.parametrize("rule", RULES, ids=[rule.card_type for rule in RULES])
def test_rule_fires_where_its_scenario_shows_the_card(rule: Rule) -> None:
    cases = shown(rule)
    assert cases, f"no scenario shows {rule.card_type}: add one under fhir_fixtures/"
    for name, indicator in cases:
        found = [(f.card_type, f.indicator) for f in rule.evaluate(facts(name))]
        assert (rule.card_type, indicator) in found, f"{name}: {found}"


@pytest.mark.parametrize("rule", RULES, ids=[rule.card_type for rule in RULES])
def test_rule_is_silent_where_a_scenario_says_its_card_is_absent(rule: Rule) -> None:
    """Silent — unless the engine drops the finding: an info card that gives way to a warning on the same
    order, or a card beyond the per-call budget of the scenario's more important ones."""
    for name in SCENARIOS:
        if rule.card_type in expected(name)["absent"]:
            cards = expected(name)["cards"]
            warned = any(card["indicator"] != "info" for card in cards)
            for finding in rule.evaluate(facts(name)):
                assert (finding.yields_to_warnings and warned) or len(cards) == MAX_CARDS, f"{name}: {finding.summary}"
