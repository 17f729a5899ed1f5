"""Rule ``abrupt-discontinuation`` on its own (``evaluate(facts)``): a dependent patient's benzodiazepine stopped
or cut by half or more at once (docs/clinical-reference.md §11a), and the near misses."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import abrupt_discontinuation
from tests.utils.facts import facts_of

DIAZEPAM_5, DIAZEPAM_2 = "diazepam 5 MG Oral Tablet", "diazepam 2 MG Oral Tablet"
ON_20_MG = {"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"}  # 196 days on 2026-03-16


def step(history: dict[str, Any], draft: dict[str, Any]) -> dict[str, Any]:
    return {"patient": {"age": 52}, "history": [history], "drafts": [{**draft, "prior": "o1"}]}


def test_halving_the_dose_is_critical_and_offers_a_25_percent_step() -> None:
    [finding] = abrupt_discontinuation.evaluate(facts_of(step(ON_20_MG, {"drug": DIAZEPAM_5, "tablets": 2})))
    assert (finding.indicator, finding.order_id) == ("critical", "d1")
    assert finding.summary == "Diazepam cut by 50 % at once risks withdrawal seizures: use a smaller step"
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** diazepam 5 MG Oral Tablet — cuts by 50 % the benzodiazepine of a patient likely "
                        "to be physically dependent.")
    assert "- Total benzodiazepine dose: 20 mg → 10 mg diazepam-equivalent/day (50 % reduction; Ashton table)." \
        in lines
    assert "- Likely physically dependent (2025 Joint Guideline Table 2): 196 days of use." in lines
    assert [s.label for s in finding.suggestions] == ["Reduce to 15 mg/day instead (≤ 25 % step)"]


def test_stopping_at_once_is_critical() -> None:
    [finding] = abrupt_discontinuation.evaluate(facts_of(step(ON_20_MG, {"drug": DIAZEPAM_5, "tablets": 4,
                                                                          "status": "stopped"})))
    assert finding.summary == ("Stopping diazepam at once in a dependent patient risks withdrawal seizures: "
                               "taper instead")
    assert "- Diazepam: 20 mg/day → stopped." in finding.detail.splitlines()


def test_silent_on_a_cut_just_under_half() -> None:
    """20 → 12 mg (40 %): too fast, but not abrupt."""
    assert list(abrupt_discontinuation.evaluate(facts_of(step(ON_20_MG, {"drug": DIAZEPAM_2, "tablets": 6})))) == []


def test_silent_for_a_patient_not_likely_to_be_dependent() -> None:
    """Ten days of use: stopping needs no taper (2025 Joint Guideline Table 2; docs/clinical-reference.md §7f)."""
    recent = {**ON_20_MG, "authored": "2026-03-06"}
    assert list(abrupt_discontinuation.evaluate(facts_of(step(recent, {"drug": DIAZEPAM_5, "tablets": 4,
                                                                        "status": "stopped"})))) == []
