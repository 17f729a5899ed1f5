"""The one-click fixes of ``benzodiazepine-duplication`` (docs/clinical-reference.md §11g), applied as an EHR
applies them and signed again: what the next call answers is what the prescriber sees after one click."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.clinical.rules.test_taper_steps import card, scenario
from tests.conftest import ScenarioHooks
from tests.scenarios.test_scenarios import daily_mg
from tests.utils.cards import accept


@pytest.mark.parametrize(("name", "diazepam_mg", "other", "other_mg"), [
    ("duplication-diazepam-added-to-clonazepam", 30, "clonazepam", Fraction(3, 2)),
])
def test_the_first_stage_of_a_switch_keeps_the_total_and_clears_the_card(
        name: str, diazepam_mg: int, other: str, other_mg: Fraction, scenario_hooks: ScenarioHooks) -> None:
    """Diazepam added on top of another drug, made the first stage of a switch in one click: half of the total as
    diazepam, half as the other drug (its order named as replaced) — the Ashton total stays what it was before the
    diazepam was added, and the signed-again call has no duplication and no rate card."""
    body, expected = scenario(name)
    hooks = scenario_hooks(expected)
    switch = card(hooks.cards(body), "benzodiazepine-duplication")["suggestions"][1]
    update, create = switch["actions"]
    assert (update["type"], create["type"]) == ("update", "create"), "the diazepam draft changes first"
    assert daily_mg(update["resource"]) == diazepam_mg
    assert other in create["resource"]["medicationCodeableConcept"]["text"]
    assert daily_mg(create["resource"]) == other_mg
    assert create["resource"]["priorPrescription"] == {"reference": "MedicationRequest/o1"}
    resigned = hooks.cards(accept(body, switch))
    warned = {c["source"]["topic"]["code"] for c in resigned if c["indicator"] != "info"}
    assert not warned & {"benzodiazepine-duplication", "abrupt-discontinuation", "taper-too-fast",
                         "long-term-rate"}, warned


def test_no_switch_to_diazepam_is_offered_at_80(scenario_hooks: ScenarioHooks) -> None:
    """Beers 2023 (§9a): at 65 or older the card offers only the removal, and says why there is no switch."""
    body, expected = scenario("duplication-diazepam-added-to-alprazolam-older-adult")
    cards = scenario_hooks(expected).cards(body)
    assert [s["label"] for c in cards for s in c.get("suggestions", [])] == ["Remove the added diazepam order"]
    assert "A switch to diazepam is not offered at 65 or older" in card(cards, "benzodiazepine-duplication")["detail"]


def test_removing_the_added_order_leaves_the_other_drug_unchanged(scenario_hooks: ScenarioHooks) -> None:
    body, expected = scenario("duplication-diazepam-added-to-clonazepam")
    hooks = scenario_hooks(expected)
    removal = card(hooks.cards(body), "benzodiazepine-duplication")["suggestions"][0]
    assert [a["type"] for a in removal["actions"]] == ["delete"]
    assert hooks.cards(accept(body, removal)) == []
