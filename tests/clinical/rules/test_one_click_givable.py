"""Every one-click benzodiazepine order the scenario suite produces can be given with the product it names:
a marketed form of the dose-form table, half tablets only of scored tablets, whole capsules and orally
disintegrating tablets, liquids in measured steps — with the amount and timing of every administration."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from cds_service.clinical.dose_forms import load_dose_forms
from tests.clinical.rules.test_taper_steps import scenario
from tests.conftest import ScenarioHooks
from tests.utils.scenarios import NAMES as SCENARIOS

forms = load_dose_forms()


def benzodiazepine_orders(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                resource = action.get("resource") or {}
                codings = (resource.get("medicationCodeableConcept") or {}).get("coding") or []
                if resource.get("resourceType") == "MedicationRequest" and any(
                        forms.by_code(c.get("code")) or c.get("display", "").split(" ")[0] in forms.ingredients
                        for c in codings):
                    found.append(resource)
    return found


def cards_of(name: str, scenario_hooks: ScenarioHooks) -> list[dict[str, Any]]:
    body, expected = scenario(name)
    return scenario_hooks(expected).cards(body, expected["service"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_suggested_benzodiazepine_order_is_givable(name: str, scenario_hooks: ScenarioHooks) -> None:
    for resource in benzodiazepine_orders(cards_of(name, scenario_hooks)):
        [coding] = resource["medicationCodeableConcept"]["coding"]
        form = forms.by_code(coding["code"])
        assert form is not None, f"{name}: {coding['display']} is not a marketed form of the table"
        assert resource["dosageInstruction"], name
        for line in resource["dosageInstruction"]:
            # R4, or STU3 for the legacy hook (the dose directly on the dosage)
            quantity = line["doseAndRate"][0]["doseQuantity"] if "doseAndRate" in line else line["doseQuantity"]
            units = Fraction(str(quantity["value"]))
            assert units > 0 and (units / form.step_units).denominator == 1, (name, form.display, units)
            assert quantity["code"] == {"liquid": "mL", "capsule": "{capsule}"}.get(form.kind, "{tablet}")
            repeat = line["timing"]["repeat"]
            assert (repeat["period"], repeat["periodUnit"]) == (1, "d") and 1 <= repeat["frequency"] <= 4
            assert len(repeat.get("when", [])) in (0, repeat["frequency"])
            assert line["text"]


def test_the_suite_has_one_click_orders_to_check(scenario_hooks: ScenarioHooks) -> None:
    orders = [resource for name in SCENARIOS for resource in benzodiazepine_orders(cards_of(name, scenario_hooks))]
    assert len(orders) >= 10
