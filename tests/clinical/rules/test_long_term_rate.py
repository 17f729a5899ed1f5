"""Rule ``long-term-rate`` on its own (``evaluate(facts)``): more than 10 % within 30 days for a patient on
benzodiazepines for over a year (docs/clinical-reference.md §11d, §8a), and when it stays silent."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import long_term_rate
from tests.utils.facts import facts_of

DIAZEPAM_5, DIAZEPAM_2 = "diazepam 5 MG Oral Tablet", "diazepam 2 MG Oral Tablet"
SINCE_2024 = {"drug": DIAZEPAM_5, "tablets": 4, "authored": "2024-09-01", "id": "o1"}  # 20 mg/day for 561 days


def step(history: dict[str, Any], draft: dict[str, Any]) -> dict[str, Any]:
    return {"patient": {"age": 52}, "history": [history], "drafts": [{**draft, "prior": "o1"}]}


def test_a_25_percent_step_after_a_year_breaks_10_percent_per_month() -> None:
    [finding] = long_term_rate.evaluate(facts_of(step(SINCE_2024, {"drug": DIAZEPAM_5, "tablets": 3})))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == "Diazepam: long-term benzodiazepine user — taper by at most 10 % per month"
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** diazepam 5 MG Oral Tablet — 25 % within 30 days for a patient on "
                        "benzodiazepines for more than a year (limit 10 % per month).")
    assert "- Benzodiazepine use since 2024-09-01 (561 days, long-term)." in lines
    assert "- Covered on 365 of the last 365 days." in lines
    assert [s.label for s in finding.suggestions] == ["Reduce to 18 mg/day instead (≤ 10 % step)"]


def test_silent_on_10_percent_a_month() -> None:
    assert list(long_term_rate.evaluate(facts_of(step(SINCE_2024, {"drug": DIAZEPAM_2, "tablets": 9})))) == []


def test_silent_before_a_year_of_use() -> None:
    """196 days: the summary profile's 25 % step applies, not 10 % a month."""
    shorter = {**SINCE_2024, "authored": "2025-09-01"}
    assert list(long_term_rate.evaluate(facts_of(step(shorter, {"drug": DIAZEPAM_5, "tablets": 3})))) == []
