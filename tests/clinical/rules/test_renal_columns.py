"""The renal one-click dose (docs/clinical-reference.md §9d): the label's column for the ordered daily dose in the
patient's kidney-function row, in one givable product with the fewest units a dose — every column of both
tables, which the scenarios cannot all pin down."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace
from typing import Any, cast

import pytest

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.renal_dosing import label_row
from cds_service.clinical.rules.gabapentinoid_renal_dose import column_index, column_mg, label_dose, lowest_maximum_mg
from cds_service.clinical.terminology import load_terminology

FACTS = cast(ClinicalFacts, SimpleNamespace(terminology=load_terminology()))


def _suggested(ingredient: str, crcl: int, ordered: int, per_day: int, new_start: bool = False) -> str:
    row: Any = label_row(ingredient, Fraction(crcl))
    column = column_index(ingredient, Fraction(ordered), new_start=new_start)
    target = min(column_mg(row, column, Fraction(crcl)), Fraction(ordered))
    dose = label_dose(FACTS, ingredient, target, row["doses_per_day"], per_day)
    assert dose is not None
    units = dose.administrations[0].units
    return f"{units} × {dose.product.strength_mg} mg × {dose.doses_per_day}/day"


@pytest.mark.parametrize(("crcl", "ordered", "per_day", "expected"), [
    (28, 900, 3, "2 × 100 mg × 1/day"),     # first column: 200 mg once daily, not 7 × 100 mg
    (28, 1200, 3, "1 × 300 mg × 1/day"),
    (28, 1800, 3, "1 × 400 mg × 1/day"),
    (28, 2400, 3, "1 × 400 mg × 1/day"),    # 500 mg needs 5 × 100 mg: the largest dose in ≤ 4 units below it
    (28, 3600, 3, "1 × 600 mg × 1/day"),    # 700 mg likewise: one 600 mg tablet
    (45, 900, 3, "2 × 100 mg × 2/day"),     # 400 mg/day twice daily
    (45, 1800, 3, "1 × 400 mg × 2/day"),
    (45, 3600, 4, "1 × 600 mg × 2/day"),    # 1400 mg/day: 700 mg a dose → 600 mg
    (10, 3600, 1, "2 × 100 mg × 1/day"),    # CrCl 10: 300 × 10 ÷ 15 = 200 mg
    (28, 1000, 3, "2 × 100 mg × 1/day"),    # between columns: the largest column not above it
    (28, 300, 3, "2 × 100 mg × 1/day"),     # below every column: the first, never more than ordered
])
def test_gabapentin_columns(crcl: int, ordered: int, per_day: int, expected: str) -> None:
    assert _suggested("gabapentin", crcl, ordered, per_day) == expected


@pytest.mark.parametrize(("crcl", "ordered", "per_day", "expected"), [
    (45, 150, 2, "1 × 25 mg × 3/day"),      # 75 mg/day: 37.5 mg twice daily cannot be given
    (45, 300, 2, "1 × 75 mg × 2/day"),      # not 3 × 25 mg twice daily
    (45, 450, 3, "1 × 75 mg × 3/day"),      # 225 mg/day
    (45, 600, 3, "1 × 100 mg × 3/day"),     # 300 mg/day, the order's three times daily kept
    (25, 300, 2, "1 × 75 mg × 1/day"),
    (25, 450, 2, "1 × 50 mg × 2/day"),      # a column's range (100–150) at its lower end, the order's schedule
    (25, 600, 2, "1 × 75 mg × 2/day"),
    (10, 600, 1, "1 × 75 mg × 1/day"),
])
def test_pregabalin_columns(crcl: int, ordered: int, per_day: int, expected: str) -> None:
    assert _suggested("pregabalin", crcl, ordered, per_day) == expected


def test_a_new_start_takes_the_first_column() -> None:
    assert _suggested("gabapentin", 28, 3600, 3, new_start=True) == "2 × 100 mg × 1/day"
    assert _suggested("pregabalin", 25, 600, 2, new_start=True) == "1 × 25 mg × 1/day"


def test_without_a_kidney_result_only_a_dose_above_every_row_is_questioned() -> None:
    assert (lowest_maximum_mg("gabapentin"), lowest_maximum_mg("pregabalin")) == (300, 75)
