"""Each hook's happy path and the quirks of real clients (CDS Hooks 2.0 "Service call")."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import HookCalls, card_types
from tests.utils.fhir import (
    DIAZEPAM_5_MG_TABLET,
    RXNORM,
    baclofen_draft,
    diazepam_taper_15_to_12,
    medication_request,
)
from tests.utils.scenarios import request as scenario_request


def test_order_sign_with_nothing_to_say_returns_empty_cards(hooks: HookCalls) -> None:
    response = hooks.post(hooks.request(drafts=[]))
    assert response.status_code == 200
    assert response.content_type.startswith("application/json")
    assert response.get_json() == {"cards": []}


def test_order_select_evaluates_only_the_selections(hooks: HookCalls) -> None:
    body = hooks.request("order-select", drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(),
                         selections=["MedicationRequest/bac-1"])
    assert card_types(hooks.cards(body, "bzd-taper-order-select")) == [("baclofen-adjunct", "warning")]
    body["context"]["selections"] = ["MedicationRequest/someone-else"]
    assert hooks.cards(body, "bzd-taper-order-select") == []


def _stu3(resource: dict[str, Any]) -> dict[str, Any]:
    """The same draft as an STU3 MedicationRequest: dose directly on the dosage, category a single object."""
    stu3 = copy.deepcopy(resource)
    for dosage in stu3["dosageInstruction"]:
        dosage["doseQuantity"] = dosage.pop("doseAndRate")[0]["doseQuantity"]
    stu3["category"] = {"coding": [{"code": "outpatient"}]}
    return stu3


def test_medication_prescribe_reads_stu3_drafts(hooks: HookCalls) -> None:
    body = hooks.request("medication-prescribe", drafts=[_stu3(baclofen_draft())], history=diazepam_taper_15_to_12())
    [card] = hooks.cards(body, "bzd-taper-medication-prescribe")
    assert card["source"]["topic"]["code"] == "baclofen-adjunct"
    assert "(30 mg/day)" in card["detail"]


def test_medication_prescribe_reads_dstu2_medication_orders(hooks: HookCalls) -> None:
    order = _stu3(baclofen_draft())
    order["resourceType"] = "MedicationOrder"
    order["patient"] = order.pop("subject")
    order["dateWritten"] = order.pop("authoredOn")
    del order["intent"]
    body = hooks.request("medication-prescribe", drafts=[order], history=diazepam_taper_15_to_12())
    assert card_types(hooks.cards(body, "bzd-taper-medication-prescribe")) == [("baclofen-adjunct", "warning")]


def test_sandbox_style_order_select_before_a_medication_is_chosen(hooks: HookCalls) -> None:
    """The sandbox fires order-select with a bare draft: no intent, no medication, Bundle without type."""
    body = hooks.request("order-select", history=diazepam_taper_15_to_12())
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "request-123", "status": "draft",
        "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-03-16"}}]}
    body["context"]["selections"] = ["MedicationRequest/request-123"]
    response = hooks.post(body, "bzd-taper-order-select")
    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_sandbox_style_draft_with_object_category_and_pill_units(hooks: HookCalls) -> None:
    draft = {
        "resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-03-16",
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                 "code": "outpatient"}]},
        "medicationCodeableConcept": {"text": "Baclofen 10 MG Oral Tablet", "coding": [
            {"system": RXNORM, "code": "197391", "display": "Baclofen 10 MG Oral Tablet"}]},
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": {"value": 1, "system": "http://unitsofmeasure.org",
                                                                 "code": "{pill}"}}]}],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days"}},
        "reasonCode": [{"text": "withdrawal anxiety"}],
    }
    body = hooks.request("order-select", drafts=[draft], history=diazepam_taper_15_to_12())
    [card] = hooks.cards(body, "bzd-taper-order-select")
    assert "(30 mg/day)" in card["detail"]


def test_malformed_history_resource_is_skipped_and_said(hooks: HookCalls) -> None:
    broken = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=3, authored_on="2026-01-01", id="odd")
    broken["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = "thrice-zzq"
    body = hooks.request(drafts=[baclofen_draft()], history=[*diazepam_taper_15_to_12(), broken])
    [card] = hooks.cards(body)
    assert "one MedicationRequest could not be read" in card["detail"]
    assert "thrice-zzq" not in card["detail"], "the note names the problem, not the patient's data"


def _unreadable_egfr(day: str) -> dict[str, Any]:
    return {"resource": {"resourceType": "Observation", "id": "odd-egfr", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "98979-8"}]},
                         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": day,
                         "valueQuantity": {"value": {"nested": "not a number"}}}}


def test_an_unreadable_observation_is_said_on_the_card_that_read_the_observations(hooks: HookCalls) -> None:
    """Observations are parsed only when a rule reads them: renal dosing does, so its card says
    what could not be read."""
    body = scenario_request("own-gabapentin-renal-crcl-20")
    body["prefetch"]["observations"]["entry"].append(_unreadable_egfr("2026-01-09"))
    [card] = hooks.cards(body)
    assert card["source"]["topic"]["code"] == "gabapentinoid-renal-dose"
    assert "one Observation could not be read" in card["detail"]


def _zolpidem_draft() -> dict[str, Any]:
    """A new zolpidem 10 mg at bedtime: its card (z-drug-during-taper) reads no observations."""
    return medication_request(("854873", "zolpidem tartrate 10 MG Oral Tablet"), tablets=1, per_day=1,
                              authored_on="2026-03-16", status="draft", id="zol-1")


def test_an_unreadable_observation_no_rule_reads_is_not_said(hooks: HookCalls) -> None:
    body = hooks.request(drafts=[_zolpidem_draft()], history=diazepam_taper_15_to_12())
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "entry": [_unreadable_egfr("2026-03-01")]}
    [card] = hooks.cards(body)
    assert card["source"]["topic"]["code"] == "z-drug-during-taper"
    assert "could not be read" not in card["detail"]


def test_the_baclofen_card_says_an_unreadable_kidney_result(hooks: HookCalls) -> None:
    """The baclofen card offers gabapentin only where the kidney result allows 100 mg (docs/clinical-reference.md
    §11k): an eGFR it could not read may be one that forbids it, so the card says so."""
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "entry": [_unreadable_egfr("2026-03-01")]}
    [card] = hooks.cards(body)
    assert card["source"]["topic"]["code"] == "baclofen-adjunct"
    assert "could not be read" in card["detail"]


def test_order_select_says_only_what_its_own_evaluation_could_not_read(hooks: HookCalls) -> None:
    """Selecting the zolpidem draft reads no observations; the gabapentin draft beside it would (renal dosing),
    but it is not selected: nothing about the unreadable eGFR belongs on the select's cards (a run-ahead of the
    order-sign once added it)."""
    gabapentin = medication_request(("310430", "gabapentin 100 MG Oral Capsule"), tablets=3, per_day=3,
                                    authored_on="2026-03-16", status="draft", id="gab-1")
    body = hooks.request("order-select", drafts=[_zolpidem_draft(), gabapentin], history=diazepam_taper_15_to_12(),
                         selections=["MedicationRequest/zol-1"])
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "entry": [_unreadable_egfr("2026-03-01")]}
    selected = hooks.cards(body, "bzd-taper-order-select")
    assert [card["source"]["topic"]["code"] for card in selected] == ["z-drug-during-taper"]
    assert "could not be read" not in selected[0]["detail"]
    sign = {**body, "hook": "order-sign", "context": {k: v for k, v in body["context"].items() if k != "selections"}}
    signed = {card["source"]["topic"]["code"]: card for card in hooks.cards(sign)}
    assert "could not be read" in signed["gabapentinoid-renal-dose"]["detail"]  # order-sign evaluates both
