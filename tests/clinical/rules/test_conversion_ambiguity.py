"""Rule ``conversion-ambiguity`` on its own (``evaluate(facts)``): a same-day switch whose size depends on the
equivalence table (docs/clinical-reference.md §11e, §1b, §8c) — both tables' verdicts in numbers — and the switches
and steps it leaves alone."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import conversion_ambiguity
from tests.utils.facts import facts_of

ALPRAZOLAM_1, DIAZEPAM_10 = "alprazolam 1 MG Oral Tablet", "diazepam 10 MG Oral Tablet"


def switch(old: str, new: str, since: str = "2023-03-01") -> dict[str, Any]:
    """One tablet three times a day of ``old`` since ``since``, replaced the same day by one of ``new`` TID."""
    return {"patient": {"age": 35},
            "history": [{"drug": old, "tablets": 1, "per_day": 3, "authored": since, "id": "o1"}],
            "drafts": [{"drug": old, "tablets": 1, "per_day": 3, "prior": "o1", "status": "stopped", "id": "d1"},
                       {"drug": new, "tablets": 1, "per_day": 3, "id": "d2"}]}


def test_alprazolam_3_mg_to_diazepam_30_mg_is_half_under_ashton_and_no_change_under_va_dod() -> None:
    [finding] = conversion_ambiguity.evaluate(facts_of(switch(ALPRAZOLAM_1, DIAZEPAM_10)))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == ("Same-day switch alprazolam → diazepam: equivalence tables disagree; cross-taper "
                               "over 1–2 weeks")
    lines = finding.detail.splitlines()
    assert lines[0] == "**Order:** alprazolam 1 MG Oral Tablet — switches alprazolam to diazepam in one day."
    assert ("- Under the Ashton table this is a 50 % reduction: it breaches the abrupt-discontinuation threshold "
            "(half or more at once); the 25 % step limit; 10 % per month after more than a year of use.") in lines
    assert "- Under the VA/DoD table this is no change of the total: it is within every limit." in lines
    assert "- Alprazolam: 3 mg/day → stopped." in lines and "- Diazepam: not taken → 30 mg/day." in lines


def test_whether_it_fires_does_not_depend_on_the_configured_table() -> None:
    ashton = list(conversion_ambiguity.evaluate(facts_of(switch(ALPRAZOLAM_1, DIAZEPAM_10))))
    va_dod = list(conversion_ambiguity.evaluate(facts_of(switch(ALPRAZOLAM_1, DIAZEPAM_10),
                                                         equivalence_table="va-dod")))
    assert [f.summary for f in va_dod] == [f.summary for f in ashton]


def test_silent_when_the_tables_agree() -> None:
    """Chlordiazepoxide 75 mg/day → diazepam 30 mg/day: 30 mg diazepam-equivalent under both tables."""
    spec = switch("chlordiazepoxide hydrochloride 25 MG Oral Capsule", DIAZEPAM_10)
    assert list(conversion_ambiguity.evaluate(facts_of(spec))) == []


def test_silent_on_a_step_of_one_drug() -> None:
    spec = {"patient": {"age": 35},
            "history": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 4, "authored": "2025-09-01", "id": "o1"}],
            "drafts": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 2, "prior": "o1"}]}
    assert list(conversion_ambiguity.evaluate(facts_of(spec))) == []
