"""The ``baclofen-adjunct`` card end to end: its numbers, its suggestions, its near misses."""

from __future__ import annotations

from tests.conftest import HookCalls, card_types
from tests.utils.cards import accept
from tests.utils.fhir import (
    DIAZEPAM_5_MG_TABLET,
    ICD10,
    baclofen_draft,
    condition,
    diazepam_taper_15_to_12,
    medication_request,
)


def test_card_states_the_reduction_and_the_baclofen_dose_exactly(hooks: HookCalls) -> None:
    [card] = hooks.cards(hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    assert card["indicator"] == "warning"
    assert card["source"]["topic"] == {"system": "urn:bzd-taper-cds:card-type", "code": "baclofen-adjunct",
                                       "display": "Baclofen is not a taper adjunct"}
    detail = card["detail"]
    assert "baclofen 10 MG Oral Tablet (30 mg/day)" in detail
    assert "reduced from 15 mg to 12 mg diazepam-equivalent/day on 2026-03-02 (20 %; Ashton table)" in detail
    assert "pause or slow the taper" in detail


def test_three_suggestions_remove_replace_with_gabapentin_and_refer_for_cbt(hooks: HookCalls) -> None:
    [card] = hooks.cards(hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    remove, replace, cbt = card["suggestions"]
    assert card["selectionBehavior"] == "at-most-one"
    assert remove["isRecommended"] is True
    assert remove["actions"] == [{"type": "delete",
                                  "description": "Remove the baclofen order baclofen 10 MG Oral Tablet",
                                  "resourceId": "MedicationRequest/bac-1"}]
    # create before delete: the public sandbox applies only the first action (docs/service-contract.md §9)
    assert [a["type"] for a in replace["actions"]] == ["create", "delete"]
    assert replace["actions"][1] == remove["actions"][0]
    gabapentin = replace["actions"][0]["resource"]
    assert gabapentin["status"] == "draft" and gabapentin["subject"] == {"reference": "Patient/p1"}
    assert gabapentin["medicationCodeableConcept"]["coding"][0]["code"] == "310430"
    dosage = gabapentin["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 1
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}
    [create_cbt] = cbt["actions"]
    referral = create_cbt["resource"]
    assert create_cbt["type"] == "create" and referral["resourceType"] == "ServiceRequest"
    assert referral["status"] == "draft" and referral["code"]["coding"][0]["code"] == "304891004"
    assert referral["note"][0]["text"], "no cold referral: the request carries a clinical summary"


def test_accepting_the_removal_and_re_signing_gives_no_card(hooks: HookCalls) -> None:
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    [card] = hooks.cards(body)
    remove = card["suggestions"][0]
    resigned = accept(body, remove)
    assert resigned["context"]["draftOrders"]["entry"] == []
    assert hooks.cards(resigned) == []


def test_accepting_gabapentin_instead_and_re_signing_gives_no_baclofen_card(hooks: HookCalls) -> None:
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    [card] = hooks.cards(body)
    resigned = accept(body, card["suggestions"][1])
    [gabapentin] = [e["resource"] for e in resigned["context"]["draftOrders"]["entry"]]
    assert gabapentin["medicationCodeableConcept"]["coding"][0]["code"] == "310430"
    assert "baclofen-adjunct" not in {c["source"]["topic"]["code"] for c in hooks.cards(resigned)}


def test_gabapentin_is_not_suggested_with_a_sedative_use_disorder(hooks: HookCalls) -> None:
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(),
                         conditions=[condition("F13.20", "Sedative dependence, uncomplicated", system=ICD10)])
    cards = hooks.cards(body)
    assert card_types(cards) == [("specialist-referral", "warning"), ("baclofen-adjunct", "warning")]
    card = cards[1]
    labels = [s["label"] for s in card["suggestions"]]
    assert labels == ["Remove the baclofen order", "Refer for CBT to support the taper"]
    assert "advises avoiding gabapentin" in card["detail"]


def test_resolved_spasticity_does_not_excuse_baclofen(hooks: HookCalls) -> None:
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(),
                         conditions=[condition("221360009", "Spasticity", clinical_status="resolved")])
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]


def test_baclofen_added_while_another_draft_cuts_diazepam(hooks: HookCalls) -> None:
    stable = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=3, authored_on="2025-09-01", id="dzp-15")
    cut = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on="2026-03-16", status="draft",
                             id="dzp-draft", prior="dzp-15")
    cards = hooks.cards(hooks.request(drafts=[baclofen_draft(), cut], history=[stable]))
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "baclofen-adjunct"]
    assert "reduce it from 15 mg to 10 mg diazepam-equivalent/day (33.3 %)" in card["detail"]
