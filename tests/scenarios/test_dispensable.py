"""Every one-click MedicationRequest of every scenario is dispensable exactly as it stands
(docs/clinical-reference.md §9b–§9d): each scenario of ``fhir_fixtures`` runs through the HTTP API and every
order its cards' suggestions create or update goes through the pharmacist's check of
``tests/utils/dispensable.py``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cds_service.fhir.stu3 import as_r4
from tests.conftest import HookCalls, app_on
from tests.utils.dispensable import assert_dispensable, one_click_problems, order_problems
from tests.utils.scenarios import SCENARIOS


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_one_click_order_is_dispensable(scenario: Path, database_url: str) -> None:
    expected, request = _load(scenario / "expected.json"), _load(scenario / "request.json")
    with app_on(database_url, expected.get("settings", {})) as app:
        cards = HookCalls(app.test_client()).cards(request, service_id=expected["service"])
    if expected["service"] == "bzd-taper-medication-prescribe":
        request, cards = _read_as_r4(request, cards)
    assert_dispensable(request, cards)


def _read_as_r4(request: dict[str, Any], cards: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The legacy hook's drafts and one-click orders are STU3 (docs/clinical-reference.md §7l; their STU3
    validity is checked on every response): the pharmacist's check reads them with R4 names."""
    request = copy.deepcopy(request)
    context = request["context"]
    context["draftOrders"] = context.pop("medications")
    context["draftOrders"]["entry"] = [{"resource": as_r4(e["resource"])} for e in context["draftOrders"]["entry"]]
    cards = copy.deepcopy(cards)
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if "resource" in action:
                    action["resource"] = as_r4(action["resource"])
    return request, cards


def _order(code: str, units: float, per_day: int, *, dispense: dict[str, Any] | None = None,
           as_needed: bool = False) -> dict[str, Any]:
    line: dict[str, Any] = {"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                            "doseAndRate": [{"doseQuantity": {"value": units, "unit": "{tablet}"}}]}
    if as_needed:
        line["asNeededBoolean"] = True
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": code}]},
        "dosageInstruction": [line]}
    if dispense is not None:
        order["dispenseRequest"] = dispense
    return order


def _supply(quantity: int, days: int, refills: int | None = None) -> dict[str, Any]:
    dispense: dict[str, Any] = {"quantity": {"value": quantity, "unit": "tablet"},
                                "expectedSupplyDuration": {"value": days, "unit": "days", "code": "d"}}
    if refills is not None:
        dispense["numberOfRepeatsAllowed"] = refills
    return dispense


DIAZEPAM_2_MG, CLONAZEPAM_ODT_0125, GABAPENTIN_100, PREGABALIN_ER_165 = "197590", "349194", "310430", "1988974"


def test_a_quantity_kept_from_another_dose_is_caught() -> None:
    """The reviewers' finding: 4½ tablets a day with the draft's 60 tablets "for 30 days" lasts 13 days."""
    order = _order(DIAZEPAM_2_MG, 1.5, 3, dispense=_supply(60, 30))
    assert order_problems(order, "Reduce to 9 mg/day instead: 60 tablets for 30 days, no refills", None) == [
        "60 tablet last 13.3 days, not 30: 4.5 tablet a day need 135"]
    fixed = _order(DIAZEPAM_2_MG, 1.5, 3, dispense=_supply(135, 30, refills=0))
    assert order_problems(fixed, "Reduce to 9 mg/day instead: 135 tablets for 30 days, no refills", None) == []


def test_eleven_orally_disintegrating_tablets_a_day_with_60_for_30_days_is_caught() -> None:
    order = _order(CLONAZEPAM_ODT_0125, 11, 1, dispense=_supply(60, 30))
    assert order_problems(order, "Reduce: 60 tablets for 30 days, no refills", None) == [
        "60 tablet last 5.5 days, not 30: 11 tablet a day need 330"]


def test_refills_on_a_benzodiazepine_and_a_label_that_does_not_say_what_is_dispensed_are_caught() -> None:
    order = _order(DIAZEPAM_2_MG, 1.5, 3, dispense=_supply(135, 30, refills=2))
    assert order_problems(order, "Reduce to 9 mg/day instead", None) == [
        "a benzodiazepine one-click order with 2 refills",
        "the label does not say what is dispensed ('135 tablets')"]


def test_an_as_needed_draft_turned_into_a_fixed_schedule_is_caught() -> None:
    draft = _order(DIAZEPAM_2_MG, 1, 2, as_needed=True)
    assert order_problems(_order(DIAZEPAM_2_MG, 1, 2), "Reduce", draft) == [
        "the draft is as-needed; the one-click order is a fixed schedule"]
    assert order_problems(_order(DIAZEPAM_2_MG, 1, 2, as_needed=True), "Reduce", draft) == []


def test_a_supply_added_to_or_dropped_from_the_draft_is_caught() -> None:
    bare, supplied = _order(DIAZEPAM_2_MG, 1, 2), _order(DIAZEPAM_2_MG, 1, 2, dispense=_supply(60, 30))
    assert order_problems(supplied, "Reduce: 60 tablets for 30 days", bare) == [
        "the draft carries no dispenseRequest; the one-click order adds one"]
    assert order_problems(bare, "Reduce", supplied) == [
        "the draft carries a dispenseRequest; the one-click order drops it"]


def test_a_product_or_an_amount_that_cannot_be_given_is_caught() -> None:
    assert order_problems(_order(PREGABALIN_ER_165, 1, 1), "Change", None) == [
        "product 1988974 is not a givable product"]
    assert order_problems(_order(GABAPENTIN_100, 0.5, 1), "Change", None) == [
        "a dose of 1/2 capsule of 310430 cannot be given (steps of 1)"]
    assert order_problems(_order(GABAPENTIN_100, 7, 1), "Change", None) == [
        "7 capsules at one time: not the fewest units a dose"]
    assert order_problems(_order(DIAZEPAM_2_MG, 7.5, 2), "Reduce", None) == [
        "7.5 tablets of 2 mg: 3 of 5 mg give the same doses in fewer pieces"]


def test_an_order_that_is_not_valid_r4_is_caught() -> None:
    order = _order(DIAZEPAM_2_MG, 1, 2)
    order["authoredOn"] = "yesterday"
    [problem] = order_problems(order, "Reduce", None)
    assert problem.startswith("not valid R4")


def test_the_checker_reads_every_one_click_order_of_a_response() -> None:
    request = {"context": {"draftOrders": {"entry": [{"resource": _order(DIAZEPAM_2_MG, 1, 3,
                                                                          dispense=_supply(90, 30))}]}}}
    update = {"type": "update", "resource": _order(DIAZEPAM_2_MG, 1.5, 3, dispense=_supply(90, 30, 0))}
    cards = [{"source": {"topic": {"code": "taper-too-fast"}},
              "suggestions": [{"label": "Reduce: 90 tablets for 30 days, no refills", "actions": [update]}]}]
    assert one_click_problems(request, cards) == [
        "taper-too-fast / 'Reduce: 90 tablets for 30 days, no refills': 90 tablet last 20.0 days, not 30: "
        "4.5 tablet a day need 135"]
