"""Rule ``gabapentinoid-renal-dose`` on its own (``evaluate(facts)``): gabapentin above the label row for the
patient's kidney function, with the row and the arithmetic that chose it (docs/clinical-reference.md §11m, §7i,
§9d)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import gabapentinoid_renal_dose
from tests.utils.facts import facts_of

ON_DIAZEPAM = [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 2, "authored": "2025-01-10"}]
GABAPENTIN_300_TID = {"drug": "gabapentin 300 MG Oral Capsule", "tablets": 1, "per_day": 3}
# Cockcroft–Gault, 70-year-old man of 70 kg, serum creatinine 1.22 mg/dL: (140 − 70) × 70 / (72 × 1.22) = 55.8 mL/min
CREATININE_1_22 = [{"loinc": "2160-0", "value": 1.22, "unit": "mg/dL", "date": "2026-03-01"},
                   {"loinc": "29463-7", "value": 70, "unit": "kg", "date": "2026-03-01"}]


def spec(draft: dict[str, Any], observations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"patient": {"age": 70, "sex": "male"}, "history": ON_DIAZEPAM, "observations": observations,
            "drafts": [draft]}


def test_1800_mg_a_day_at_crcl_55_8_is_above_the_1400_mg_row_maximum() -> None:
    [finding] = gabapentinoid_renal_dose.evaluate(facts_of(spec({**GABAPENTIN_300_TID, "per_day": 6},
                                                                CREATININE_1_22)))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == ("Reduce gabapentin for kidney function (CrCl 55.8): label maximum 1400 mg/day, twice "
                               "daily")
    lines = finding.detail.splitlines()
    assert lines[0] == ("**Order:** gabapentin 300 MG Oral Capsule — 1800 mg/day is above the label maximum of "
                        "1400 mg/day; 6 doses a day; the label gives it twice daily.")
    assert ("- Kidney function: CrCl 55.8 mL/min (Cockcroft–Gault: serum creatinine 1.22 mg/dL on 2026-03-01, "
            "weight 70 kg, age 70, male).") in lines
    assert ("- Neurontin (gabapentin) label Table 1, row CrCl > 30–59 mL/min: 400–1400 mg/day; 200 / 300 / 400 / "
            "500 / 700 mg twice daily.") in lines
    assert [s.label for s in finding.suggestions] == ["Change to gabapentin 2 × 100 mg capsules twice daily"]


def test_three_times_a_day_is_too_often_for_the_row_even_within_its_maximum() -> None:
    [finding] = gabapentinoid_renal_dose.evaluate(facts_of(spec(GABAPENTIN_300_TID, CREATININE_1_22)))
    assert finding.summary == ("Gabapentin 3 times a day is too often for kidney function (CrCl 55.8): the label "
                               "gives it twice daily")


def test_an_egfr_of_20_takes_the_crcl_15_to_29_row() -> None:
    egfr = [{"loinc": "98979-8", "value": 20, "unit": "mL/min/{1.73_m2}", "date": "2026-03-01"}]
    [finding] = gabapentinoid_renal_dose.evaluate(facts_of(spec(GABAPENTIN_300_TID, egfr)))
    assert finding.summary == "Reduce gabapentin for kidney function (eGFR 20): label maximum 700 mg/day, once daily"
    assert [s.label for s in finding.suggestions] == ["Change to gabapentin 2 × 100 mg capsules once daily"]


def test_without_a_kidney_result_it_asks_for_a_creatinine() -> None:
    [finding] = gabapentinoid_renal_dose.evaluate(facts_of(spec(GABAPENTIN_300_TID, [])))
    assert finding.summary == "Check kidney function before dosing gabapentin: no result on file"
    assert [s.label for s in finding.suggestions] == ["Order a serum creatinine"]


def test_silent_within_the_row_of_normal_kidney_function() -> None:
    """A 40-year-old man of 80 kg with creatinine 0.8 mg/dL: CrCl (140 − 40) × 80 / (72 × 0.8) = 138.9 mL/min."""
    normal = [{"loinc": "2160-0", "value": 0.8, "unit": "mg/dL", "date": "2026-03-01"},
              {"loinc": "29463-7", "value": 80, "unit": "kg", "date": "2026-03-01"}]
    facts = facts_of({**spec(GABAPENTIN_300_TID, normal), "patient": {"age": 40, "sex": "male"}})
    assert list(gabapentinoid_renal_dose.evaluate(facts)) == []


def test_silent_without_a_result_for_a_dose_every_row_allows() -> None:
    """Gabapentin 100 mg at bedtime: within every row, so no kidney result is needed (docs/clinical-reference.md
    §11m)."""
    low = {"drug": "gabapentin 100 MG Oral Capsule", "tablets": 1}
    assert list(gabapentinoid_renal_dose.evaluate(facts_of(spec(low, [])))) == []
