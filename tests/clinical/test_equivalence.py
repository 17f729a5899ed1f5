"""The one diazepam-equivalent computation the cards, the planner and the plan page share
(docs/clinical-reference.md §6b "DE of an order", §8c)."""

from __future__ import annotations

from fractions import Fraction

from cds_service.clinical.dose_forms import load_dose_forms
from cds_service.clinical.equivalence import diazepam_equivalent, table_with_factor
from cds_service.clinical.taper_plan import Planner
from cds_service.clinical.terminology import load_terminology

terminology = load_terminology()


def test_a_switch_stage_totals_both_drugs_under_each_table() -> None:
    doses = [("diazepam", Fraction(15)), ("lorazepam", Fraction(3, 2))]
    ashton = diazepam_equivalent(terminology, doses, "ashton")
    va_dod = diazepam_equivalent(terminology, doses, "va-dod")
    assert (ashton.mg, ashton.text) == (Fraction(30), "30 mg")  # 15 + 1.5 × 10 / 1
    assert (va_dod.mg, va_dod.text) == (Fraction(45, 2), "22.5 mg")  # 15 + 1.5 × 10 / 2


def test_a_drug_without_a_factor_is_named_never_counted_as_0() -> None:
    """Clobazam has no VA/DoD factor: before, the plan page showed "0 mg DE" at every step."""
    missing = diazepam_equivalent(terminology, [("clobazam", Fraction(20)), ("diazepam", Fraction(5))], "va-dod")
    assert (missing.mg, missing.missing, missing.text) == (None, ("clobazam",), "no VA/DoD factor for clobazam")
    assert table_with_factor(terminology, ("clobazam",), "va-dod") == "ashton"
    assert table_with_factor(terminology, ("lorazepam",), "va-dod") == "va-dod"


def test_the_planner_uses_it() -> None:
    planner = Planner("clobazam", terminology, load_dose_forms())
    assert planner.de(Fraction(20), "ashton") == 10 and planner.de(Fraction(20), "va-dod") is None
