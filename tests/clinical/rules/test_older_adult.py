"""Rule ``older-adult`` on its own (``evaluate(facts)``): patients 65 and older taper by at most 10 % per step
at least 14 days apart (docs/clinical-reference.md §11h, §8e); no age, no card (§7k)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import older_adult
from tests.utils.facts import facts_of

DIAZEPAM_5, DIAZEPAM_2 = "diazepam 5 MG Oral Tablet", "diazepam 2 MG Oral Tablet"


def step(patient: dict[str, Any], draft: dict[str, Any]) -> dict[str, Any]:
    return {"patient": patient,
            "history": [{"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"}],
            "drafts": [{**draft, "prior": "o1"}]}


def test_a_25_percent_step_at_70_is_a_warning_with_a_10_percent_step() -> None:
    [finding] = older_adult.evaluate(facts_of(step({"age": 70}, {"drug": DIAZEPAM_5, "tablets": 3})))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == ("Older adult tapering diazepam: use smaller, slower steps (≤ 10 %, ≥ 14 days apart)")
    lines = finding.detail.splitlines()
    assert lines[:2] == ["**Order:** diazepam 5 MG Oral Tablet — benzodiazepine taper in a patient aged 70.",
                         "The step is faster than the slower pace used for older adults: step of 25 % (more than "
                         "10 %)."]
    assert [s.label for s in finding.suggestions] == ["Reduce to 18 mg/day instead (≤ 10 % step)"]


def test_a_10_percent_step_at_70_is_information_without_a_suggestion() -> None:
    [finding] = older_adult.evaluate(facts_of(step({"age": 70}, {"drug": DIAZEPAM_2, "tablets": 9})))
    assert finding.indicator == "info"
    assert finding.summary == "Older adult tapering diazepam: go gradually; watch for falls and confusion"
    assert "- Total benzodiazepine dose: 20 mg → 18 mg diazepam-equivalent/day (10 % reduction; Ashton table)." \
        in finding.detail.splitlines()
    assert finding.suggestions == ()


def test_silent_at_64() -> None:
    assert list(older_adult.evaluate(facts_of(step({"age": 64}, {"drug": DIAZEPAM_5, "tablets": 3})))) == []


def test_silent_without_a_birth_date() -> None:
    assert list(older_adult.evaluate(facts_of(step({}, {"drug": DIAZEPAM_5, "tablets": 3})))) == []
