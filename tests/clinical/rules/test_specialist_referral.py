"""Rule ``specialist-referral`` on its own (``evaluate(facts)``): a referral trigger on a taper order names the
trigger and the specialty, with a consultation request — no cold referral (docs/clinical-reference.md §11i, §7h)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import specialist_referral
from tests.utils.facts import facts_of

DIAZEPAM_5 = "diazepam 5 MG Oral Tablet"


def step(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"patient": {"age": 52}, "conditions": list(conditions),
            "history": [{"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"}],
            "drafts": [{"drug": DIAZEPAM_5, "tablets": 3, "prior": "o1"}]}


def test_a_history_of_withdrawal_seizures_is_referred_to_addiction_medicine() -> None:
    [finding] = specialist_referral.evaluate(facts_of(step({"code": "724668002", "display": "Withdrawal seizure"})))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == ("Diazepam taper: refer to addiction medicine / psychiatry — history of withdrawal "
                               "seizures")
    assert "- History of withdrawal seizures (Withdrawal seizure 724668002)." in finding.detail.splitlines()
    [consult] = finding.suggestions
    assert consult.label == "Request a specialist consultation (addiction medicine / psychiatry)"
    [action] = consult.actions
    assert action.resource is not None and action.resource["resourceType"] == "ServiceRequest"


def test_an_active_sedative_use_disorder_is_a_co_occurring_disorder() -> None:
    [finding] = specialist_referral.evaluate(facts_of(step(
        {"code": "F13.20", "system": "icd10", "display": "Sedative dependence, uncomplicated"})))
    assert finding.summary.endswith("— co-occurring substance use disorder")
    assert "- Co-occurring substance use disorder (Sedative dependence, uncomplicated F13.20)." \
        in finding.detail.splitlines()


def test_silent_for_a_use_disorder_in_remission() -> None:
    spec = step({"code": "F13.21", "system": "icd10", "display": "Sedative dependence, in remission"})
    assert list(specialist_referral.evaluate(facts_of(spec))) == []


def test_silent_without_a_trigger() -> None:
    assert list(specialist_referral.evaluate(facts_of(step()))) == []
