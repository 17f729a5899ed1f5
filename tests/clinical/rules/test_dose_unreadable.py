"""Rule ``dose-unreadable`` on its own (``evaluate(facts)``): a dependent patient's step that cannot be checked
because a dose cannot be read is never silent (docs/clinical-reference.md §11f, §7k) — it names what is missing."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import dose_unreadable
from tests.utils.facts import facts_of

DIAZEPAM_5 = "diazepam 5 MG Oral Tablet"


def step(history: dict[str, Any], draft: dict[str, Any]) -> dict[str, Any]:
    return {"patient": {"age": 52}, "history": [{"drug": DIAZEPAM_5, "authored": "2025-09-01", "id": "o1",
                                                 **history}],
            "drafts": [{"drug": DIAZEPAM_5, "prior": "o1", **draft}]}


def test_a_new_order_without_a_dose_is_named_with_the_current_total() -> None:
    [finding] = dose_unreadable.evaluate(facts_of(step({"tablets": 4}, {})))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == "Diazepam dose could not be read: this taper step was not checked"
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** diazepam 5 MG Oral Tablet — the new daily dose could not be read, so this step "
                        "was not checked against the taper limits.")
    assert "- this order: no dosage instruction." in lines
    assert "- Current total: 20 mg diazepam-equivalent/day (Ashton table)." in lines
    assert "- Likely physically dependent (2025 Joint Guideline Table 2): 196 days of use." in lines


def test_a_current_order_without_a_dose_is_named() -> None:
    [finding] = dose_unreadable.evaluate(facts_of(step({}, {"tablets": 3})))
    lines = finding.detail.splitlines()
    assert lines[0].startswith("**Order:** diazepam 5 MG Oral Tablet — the current daily dose could not be read")
    assert "- diazepam 5 MG Oral Tablet (current order): no dosage instruction." in lines
    assert "- Current total: unknown (a current dose could not be read)." in lines


def test_silent_when_both_doses_are_read() -> None:
    assert list(dose_unreadable.evaluate(facts_of(step({"tablets": 4}, {"tablets": 3})))) == []


def test_silent_for_a_patient_not_likely_to_be_dependent() -> None:
    assert list(dose_unreadable.evaluate(facts_of(step({"tablets": 4, "authored": "2026-03-06"}, {})))) == []
