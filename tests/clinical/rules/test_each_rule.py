"""Each rule called directly on the facts of the scenario folders (``fhir_fixtures/``) — no HTTP, no snooze,
no alert discipline: a rule fires where its scenario shows its card, with the same indicator, and stays
silent where a scenario says its card must be absent. The HTTP scenarios (tests/scenarios) check the whole call."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cds_service.clinical.engine import MAX_CARDS
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.rules import RULES, Rule
from cds_service.config import Settings
from cds_service.evaluate import clinical_facts
from cds_service.fhir.prefetch import resolve_prefetch
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES, prefetch_templates

FIXTURES = Path(__file__).resolve().parents[3] / "fhir_fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())


@cache
def expected(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((FIXTURES / name / "expected.json").read_text())
    return result


@cache
def facts(name: str) -> ClinicalFacts:
    service = SERVICES[expected(name)["service"]]
    request = load_hook_request(json.loads((FIXTURES / name / "request.json").read_text()), service.hook)
    raw = resolve_prefetch(prefetch_templates(), request.get("prefetch") or {}, request["context"], None)
    settings = Settings(auth="off").with_overrides(expected(name).get("settings", {}))
    return clinical_facts(service, request, raw, settings)


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
