"""Rule ``taper-too-fast`` on its own (``evaluate(facts)``, no HTTP, no engine): which limit of the profile a step
breaks, in the prescriber's numbers, and the records it stays silent on (docs/clinical-reference.md §11c,
§8a)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import taper_too_fast
from tests.utils.facts import facts_of

DIAZEPAM_5, DIAZEPAM_2 = "diazepam 5 MG Oral Tablet", "diazepam 2 MG Oral Tablet"
ON_20_MG = {"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"}  # 196 days of use on 2026-03-16


def step(*history: dict[str, Any], to: dict[str, Any], age: int = 52) -> dict[str, Any]:
    return {"patient": {"age": age}, "history": list(history), "drafts": [to]}


def test_a_30_percent_step_breaks_the_25_percent_limit() -> None:
    [finding] = taper_too_fast.evaluate(facts_of(step(ON_20_MG, to={"drug": DIAZEPAM_2, "tablets": 7,
                                                                     "prior": "o1"})))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == "Diazepam taper step too fast: reduce by a smaller step or wait longer"
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** diazepam 2 MG Oral Tablet — this taper step is faster than the taper summary "
                        "guidance allows: step of 30 % exceeds 25 % of the current dose.")
    assert "- Total benzodiazepine dose: 20 mg → 14 mg diazepam-equivalent/day (30 % reduction; Ashton table)." \
        in lines
    assert [s.label for s in finding.suggestions] == ["Reduce to 15 mg/day instead (≤ 25 % step)"]


def test_a_step_five_days_after_the_last_change_is_too_soon() -> None:
    earlier = {"drug": DIAZEPAM_2, "tablets": 9, "authored": "2026-03-11", "id": "o2", "prior": "o1"}
    [finding] = taper_too_fast.evaluate(facts_of(step(ON_20_MG, earlier, to={"drug": DIAZEPAM_2, "tablets": 8,
                                                                              "prior": "o2"})))
    assert finding.detail.splitlines()[0].endswith("allows: only 5 days after the previous change (at least 7).")
    assert "- Total benzodiazepine dose: 18 mg → 16 mg diazepam-equivalent/day (11.1 % reduction; Ashton table)." \
        in finding.detail.splitlines()
    assert [s.label for s in finding.suggestions] == ["Keep the current dose for now (too soon after the last change)"]


def test_under_the_joint_guideline_a_first_step_over_10_percent_is_too_fast() -> None:
    spec = step(ON_20_MG, to={"drug": DIAZEPAM_2, "tablets": 8, "prior": "o1"})  # 20 → 16 mg: 20 %
    [finding] = taper_too_fast.evaluate(facts_of(spec, taper_profile="joint-2025"))
    assert finding.detail.splitlines()[0] == (
        "**Order:** diazepam 2 MG Oral Tablet — this taper step is faster than the 2025 Joint Guideline allows: "
        "first step of 20 % exceeds the initial 10 %.")
    assert [s.label for s in finding.suggestions] == ["Reduce to 18 mg/day instead (≤ 10 % step)"]
    assert list(taper_too_fast.evaluate(facts_of(spec))) == [], "within the summary profile's 25 %"


def test_silent_on_a_25_percent_step_two_weeks_or_more_after_the_last_change() -> None:
    assert list(taper_too_fast.evaluate(facts_of(step(ON_20_MG, to={"drug": DIAZEPAM_5, "tablets": 3,
                                                                      "prior": "o1"})))) == []


def test_silent_for_a_patient_not_likely_to_be_dependent() -> None:
    """Ten days of use (2025 Joint Guideline Table 2; docs/clinical-reference.md §7f): a 30 % cut needs no taper."""
    recent = {**ON_20_MG, "authored": "2026-03-06"}
    assert list(taper_too_fast.evaluate(facts_of(step(recent, to={"drug": DIAZEPAM_2, "tablets": 7,
                                                                   "prior": "o1"})))) == []
