"""Rule ``taper-support`` on its own (``evaluate(facts)``): what to do around a reduction — its number in the
taper and its numbers (docs/clinical-reference.md §11q, §8d) — and that a renewal at the same dose is no step."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import taper_support
from tests.utils.facts import facts_of

DIAZEPAM_5, DIAZEPAM_2 = "diazepam 5 MG Oral Tablet", "diazepam 2 MG Oral Tablet"
ON_20_MG = {"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"}


def spec(*history: dict[str, Any], draft: dict[str, Any]) -> dict[str, Any]:
    return {"patient": {"age": 52}, "history": list(history), "drafts": [draft]}


def test_the_first_reduction_is_named_with_its_doses() -> None:
    [finding] = taper_support.evaluate(facts_of(spec(ON_20_MG, draft={"drug": DIAZEPAM_5, "tablets": 3,
                                                                      "prior": "o1"})))
    assert (finding.indicator, finding.order_id) == ("info", "d1")
    assert finding.summary == "Diazepam taper: follow up at least monthly; pauses are fine; no fixed timeline"
    assert finding.detail.splitlines()[0] == ("**Order:** diazepam 5 MG Oral Tablet — the first reduction of this "
                                              "taper (20 mg → 15 mg diazepam-equivalent/day).")


def test_a_later_reduction_is_numbered_with_its_percentage() -> None:
    second = {"drug": DIAZEPAM_5, "tablets": 3, "authored": "2026-03-02", "id": "o2", "prior": "o1"}
    [finding] = taper_support.evaluate(facts_of(spec(ON_20_MG, second, draft={"drug": DIAZEPAM_2, "tablets": 6,
                                                                              "prior": "o2"})))
    assert finding.summary == "Diazepam taper step: follow up at least monthly; pauses are fine; no fixed timeline"
    assert finding.detail.splitlines()[0] == ("**Order:** diazepam 2 MG Oral Tablet — reduction 2 of this taper "
                                              "(15 mg → 12 mg diazepam-equivalent/day; 20 % reduction).")


def test_a_stop_after_ten_days_needs_no_taper_and_says_rebound_may_occur() -> None:
    recent = {**ON_20_MG, "authored": "2026-03-06"}
    [finding] = taper_support.evaluate(facts_of(spec(recent, draft={"drug": DIAZEPAM_5, "tablets": 4,
                                                                    "prior": "o1", "status": "stopped"})))
    assert finding.summary == "Diazepam stopped: not likely dependent, no taper needed; rebound symptoms may occur"
    assert ("- Not likely physically dependent (2025 Joint Guideline Table 2: 10 days of use): this change needs no "
            "taper; rebound insomnia or anxiety may occur for a few days.") in finding.detail.splitlines()


def test_silent_on_a_renewal_at_the_same_dose() -> None:
    assert list(taper_support.evaluate(facts_of(spec(ON_20_MG, draft={"drug": DIAZEPAM_5, "tablets": 4,
                                                                      "prior": "o1"})))) == []
