"""Rule ``z-drug-during-taper`` on its own (``evaluate(facts)``): a new Z-drug during a benzodiazepine taper, with
its removal and a CBT-I referral (docs/clinical-reference.md §11l) — never for a Z-drug the patient already takes."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import z_drug_during_taper
from tests.utils.facts import facts_of

TAPER = [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 4, "authored": "2025-09-01", "id": "o1"},
         {"drug": "diazepam 5 MG Oral Tablet", "tablets": 3, "authored": "2026-03-02", "id": "o2", "prior": "o1"}]
ZOLPIDEM = {"drug": "zolpidem tartrate 10 MG Oral Tablet", "tablets": 1}


def spec(history: list[dict[str, Any]], draft: dict[str, Any] = ZOLPIDEM) -> dict[str, Any]:
    return {"patient": {"age": 52}, "history": history, "drafts": [draft]}


def test_new_zolpidem_in_a_taper_is_removed_in_one_click_or_replaced_by_cbt_i() -> None:
    [finding] = z_drug_during_taper.evaluate(facts_of(spec(TAPER)))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == ("Zolpidem (a Z-drug) is not recommended during a benzodiazepine taper: consider "
                               "CBT-I instead")
    assert finding.detail.splitlines()[0] == ("**Order:** zolpidem tartrate 10 MG Oral Tablet — a Z-drug added "
                                              "during a benzodiazepine taper.")
    remove, cbti = finding.suggestions
    assert (remove.label, remove.is_recommended) == ("Remove the Z-drug order", True)
    assert [(a.type, a.resource_id) for a in remove.actions] == [("delete", "MedicationRequest/d1")]
    assert cbti.label == "Refer for CBT-I"
    [referral] = cbti.actions
    assert referral.type == "create" and referral.resource is not None
    assert referral.resource["resourceType"] == "ServiceRequest"


def test_silent_for_zolpidem_the_patient_already_takes() -> None:
    """Since 2025-06-01: stopping it would be a withdrawal of its own."""
    taking = {**ZOLPIDEM, "authored": "2025-06-01", "id": "z1"}
    assert list(z_drug_during_taper.evaluate(facts_of(spec([*TAPER, taking], {**ZOLPIDEM, "prior": "z1"})))) == []


def test_silent_outside_a_taper() -> None:
    assert list(z_drug_during_taper.evaluate(facts_of(spec([])))) == []
