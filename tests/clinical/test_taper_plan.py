"""Tablet rounding and whole taper schedules (issue #4 items 6 and 8): exact doses and the limit property."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_plan import round_up_dose, taper_plan
from cds_service.clinical.terminology import load_terminology

terminology = load_terminology()
START = date(2026, 3, 16)


def test_round_up_prefers_whole_tablets_of_the_largest_strength() -> None:
    dose = round_up_dose(Fraction(15), "diazepam", 1, terminology)
    assert dose is not None and (dose.daily_mg, dose.units_per_dose, dose.product.code) == (15, 3, "197591")
    assert dose.instruction == "3 tablets of diazepam 5 MG Oral Tablet (15 mg) once daily"


def test_round_up_uses_half_tablets_then_solution() -> None:
    half = round_up_dose(Fraction(5), "diazepam", 2, terminology)
    assert half is not None and (half.per_dose_mg, half.units_per_dose, half.product.code) == (
        Fraction(5, 2), Fraction(1, 2), "197591")
    solution = round_up_dose(Fraction(27, 10), "diazepam", 2, terminology, below_mg=Fraction(3))
    assert solution is not None and solution.product.code == "309843"
    assert (solution.daily_mg, solution.units_per_dose) == (Fraction(14, 5), Fraction(7, 5))


def test_round_up_returns_none_when_no_step_below_the_current_dose_exists() -> None:
    assert round_up_dose(Fraction(27, 10), "lorazepam", 2, terminology, below_mg=Fraction(3)) is None


def test_summary_plan_from_20_mg() -> None:
    plan = taper_plan(Fraction(20), START, taper_profile("summary"), terminology)
    assert (plan.step_percent, plan.interval_days, plan.pauses_allowed) == (25, 14, True)
    assert [s.dose.daily_mg if s.dose else 0 for s in plan.steps] == [
        15, 12, 10, 8, 6, 5, 4, 3, Fraction(12, 5), 2, 0]
    assert [s.day for s in plan.steps] == list(range(14, 155, 14))
    assert plan.steps[0].start == date(2026, 3, 30)
    assert plan.steps[-1].dose is None and plan.steps[-1].reduction_percent == 100


def test_long_term_plan_is_10_percent_per_month() -> None:
    plan = taper_plan(Fraction(20), START, taper_profile("summary"), terminology, long_term=True)
    assert (plan.step_percent, plan.interval_days) == (10, 30)
    assert [s.dose.daily_mg for s in plan.steps[:4] if s.dose] == [18, 17, 16, 15]


def test_joint_guideline_plan_starts_at_10_percent_every_two_weeks() -> None:
    plan = taper_plan(Fraction(20), START, taper_profile("joint-2025"), terminology)
    assert (plan.step_percent, plan.interval_days) == (10, 14)


@given(st.integers(min_value=3, max_value=120), st.sampled_from(["summary", "joint-2025"]), st.booleans(),
       st.booleans())
def test_no_plan_step_exceeds_its_percent_until_the_final_stop(mg: int, profile: str, long_term: bool,
                                                              older: bool) -> None:
    plan = taper_plan(Fraction(mg), START, taper_profile(profile), terminology, long_term=long_term,
                      older_adult=older)
    for step in plan.steps[:-1]:
        assert step.dose is not None and 0 < step.reduction_percent <= plan.step_percent
    assert plan.steps[-1].dose is None
    assert len(plan.steps) < 80


@given(st.fractions(min_value=Fraction(1, 2), max_value=80), st.sampled_from([Fraction(10), Fraction(25)]),
       st.integers(min_value=1, max_value=4), st.sampled_from(["diazepam", "lorazepam", "alprazolam", "clonazepam"]))
def test_a_rounded_step_never_exceeds_the_limit(current: Fraction, limit: Fraction, per_day: int,
                                                ingredient: str) -> None:
    dose = round_up_dose(current * (1 - limit / 100), ingredient, per_day, terminology, below_mg=current)
    if dose is not None:
        assert dose.daily_mg < current
        assert (current - dose.daily_mg) / current * 100 <= limit


def test_lorazepam_plan_never_stops_early_and_flags_steps_the_tablets_cannot_make_smaller() -> None:
    plan = taper_plan(Fraction(1), START, taper_profile("summary"), terminology, ingredient="lorazepam",
                      doses_per_day=1, long_term=True, equivalent_mg=Fraction(1))
    assert [(s.day, s.dose.daily_mg if s.dose else 0, s.exceeds_pace) for s in plan.steps] == [
        (30, Fraction(3, 4), True), (60, Fraction(1, 2), True), (90, Fraction(1, 4), True), (120, 0, False)]
