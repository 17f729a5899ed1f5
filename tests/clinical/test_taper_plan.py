"""Taper plans from marketed forms: exact doses per administration, the pace, the final step
(docs/clinical-reference.md §8d)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

import msgspec
import pytest
from fhir.resources.R4B.dosage import Dosage as R4Dosage
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cds_service.clinical.dose_forms import load_dose_forms
from cds_service.clinical.dosing import DailyDose, daily_dose
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.resources import Dosage
from cds_service.clinical.taper_plan import (
    PlannedDose,
    Planner,
    TaperPlan,
    diazepam_switch_plan,
    switch_recommended,
    taper_plan,
)
from cds_service.clinical.terminology import RXNORM, SimpleCoding, load_terminology

terminology = load_terminology()
forms = load_dose_forms()
START = date(2026, 3, 16)


def amounts(dose: PlannedDose | None) -> list[tuple[str, str]] | str:
    return list(dose.per_administration) if dose is not None else "stop"


def plan_of(drug: str, mg: Fraction | int, per_day: int = 2, profile: str = "summary", **kwargs: bool) -> TaperPlan:
    return taper_plan(Fraction(mg), START, taper_profile(profile), terminology, ingredient=drug, doses_per_day=per_day,
                      **kwargs)


def products_of(plan: TaperPlan) -> list[str]:
    """The plan's products in order, one entry per run of steps."""
    runs: list[str] = []
    for step in (*plan.switch_stages, *plan.steps):
        if step.dose is not None and (not runs or runs[-1] != step.dose.product.code):
            runs.append(step.dose.product.code or "")
    return runs


def test_diazepam_plan_from_20_mg_twice_daily_keeps_the_5_mg_tablets_then_the_liquid_for_the_tail() -> None:
    """Before: 10 mg, 2 mg and 5 mg tablets in turn and back to 2 mg (three products, a flip-back)."""
    plan = plan_of("diazepam", 20)
    assert (plan.step_percent, plan.interval_days) == (25, 14)
    assert [(s.day, s.daily_mg, s.dose.product.code if s.dose else None, amounts(s.dose)) for s in plan.steps] == [
        (14, 15, "197591", [("Morning", "1½ tablets (7.5 mg)"), ("Bedtime", "1½ tablets (7.5 mg)")]),
        (28, Fraction(25, 2), "197591", [("Morning", "1 tablet (5 mg)"), ("Bedtime", "1½ tablets (7.5 mg)")]),
        (42, 10, "197591", [("Morning", "1 tablet (5 mg)"), ("Bedtime", "1 tablet (5 mg)")]),
        (56, Fraction(15, 2), "197591", [("Morning", "½ tablet (2.5 mg)"), ("Bedtime", "1 tablet (5 mg)")]),
        # 5 mg tablets could only go 7.5 → 5 mg (−33 %); the 1 mg/mL liquid keeps the pace to the stop
        (70, Fraction(29, 5), "309843", [("Morning", "2.9 mL (2.9 mg)"), ("Bedtime", "2.9 mL (2.9 mg)")]),
        (84, Fraction(22, 5), "309843", [("Morning", "2.2 mL (2.2 mg)"), ("Bedtime", "2.2 mL (2.2 mg)")]),
        (98, Fraction(17, 5), "309843", [("Morning", "1.7 mL (1.7 mg)"), ("Bedtime", "1.7 mL (1.7 mg)")]),
        (112, Fraction(13, 5), "309843", [("Morning", "1.3 mL (1.3 mg)"), ("Bedtime", "1.3 mL (1.3 mg)")]),
        (126, 2, "309843", [("Once a day", "2 mL (2 mg)")]),
        (140, 0, None, "stop"),
    ]
    assert plan.steps[0].start == date(2026, 3, 30) and not plan.beyond_pace
    assert products_of(plan) == ["197591", "309843"]
    assert plan.headline == ("9 reductions of at most 25 % of the current dose every 14 days, then a stop from "
                             "2 mg/day — 10 steps over about 4.7 months if no pause is needed.")


def test_lorazepam_3_mg_long_term_tablets_then_the_liquid_once_never_back() -> None:
    """The 0.5 mg tablets for the first step, then the 2 mg/mL liquid to the end: one change of product (before:
    18 steps changing 11 times between three products, steps of 2.2 % beside 10 %). Where the tablets could have
    kept the pace, the step says it gave that up for the one change."""
    plan = plan_of("lorazepam", 3, per_day=3, long_term=True)
    assert (plan.step_percent, plan.interval_days) == (10, 30)
    assert [(s.daily_mg, s.dose.product.code if s.dose else None, amounts(s.dose), s.exceeds_pace)
            for s in plan.steps] == [
        (Fraction(11, 4), "197900", [("Morning", "2 tablets (1 mg)"), ("Midday", "1½ tablets (0.75 mg)"),
                                     ("Bedtime", "2 tablets (1 mg)")], False),
        (Fraction(13, 5), "311376", [("Morning", "0.4 mL (0.8 mg)"), ("Midday", "0.4 mL (0.8 mg)"),
                                     ("Bedtime", "0.5 mL (1 mg)")], False),
        (Fraction(12, 5), "311376", [("Morning", "0.4 mL (0.8 mg)"), ("Midday", "0.4 mL (0.8 mg)"),
                                     ("Bedtime", "0.4 mL (0.8 mg)")], False),
        (Fraction(11, 5), "311376", [("Morning", "0.4 mL (0.8 mg)"), ("Midday", "0.3 mL (0.6 mg)"),
                                     ("Bedtime", "0.4 mL (0.8 mg)")], False),
        (Fraction(2), "311376", [("Morning", "0.3 mL (0.6 mg)"), ("Midday", "0.3 mL (0.6 mg)"),
                                 ("Bedtime", "0.4 mL (0.8 mg)")], False),
        (Fraction(9, 5), "311376", [("Morning", "0.3 mL (0.6 mg)"), ("Midday", "0.3 mL (0.6 mg)"),
                                    ("Bedtime", "0.3 mL (0.6 mg)")], False),
        (Fraction(8, 5), "311376", [("Morning", "0.3 mL (0.6 mg)"), ("Midday", "0.2 mL (0.4 mg)"),
                                    ("Bedtime", "0.3 mL (0.6 mg)")], True),
        (Fraction(7, 5), "311376", [("Morning", "0.2 mL (0.4 mg)"), ("Midday", "0.2 mL (0.4 mg)"),
                                    ("Bedtime", "0.3 mL (0.6 mg)")], True),
        (Fraction(6, 5), "311376", [("Morning", "0.2 mL (0.4 mg)"), ("Midday", "0.2 mL (0.4 mg)"),
                                    ("Bedtime", "0.2 mL (0.4 mg)")], True),
        (Fraction(1), "311376", [("Morning", "0.2 mL (0.4 mg)"), ("Midday", "0.1 mL (0.2 mg)"),
                                 ("Bedtime", "0.2 mL (0.4 mg)")], True),
        (Fraction(4, 5), "311376", [("Morning", "0.1 mL (0.2 mg)"), ("Midday", "0.1 mL (0.2 mg)"),
                                    ("Bedtime", "0.2 mL (0.4 mg)")], True),
        (Fraction(3, 5), "311376", [("Morning", "0.1 mL (0.2 mg)"), ("Midday", "0.1 mL (0.2 mg)"),
                                    ("Bedtime", "0.1 mL (0.2 mg)")], True),
        (Fraction(2, 5), "311376", [("Morning", "0.1 mL (0.2 mg)"), ("Bedtime", "0.1 mL (0.2 mg)")], True),
        (0, None, "stop", False),
    ]
    assert products_of(plan) == ["197900", "311376"]
    # no step below half the pace: the change to the liquid is a 5.5 % step (2.75 → 2.6 mg), not 2.2 %
    assert min(s.reduction_percent for s in plan.reductions) == Fraction(60, 11)
    assert plan.beyond_pace[0].reason == (
        "lorazepam 0.5 MG Oral Tablet could give 1.75 mg/day, within the pace, but the plan keeps lorazepam 2 MG/ML "
        "Oral Solution: it changes product at most once, never back to a product it left, and from a liquid never "
        "back to tablets or capsules")
    assert plan.beyond_pace[2].reason == (
        "no marketed lorazepam form gives a dose between 1.26 mg and 1.4 mg/day; the smallest amounts are half a "
        "scored 0.5 mg tablet (0.25 mg); 0.1 mL of the 2 mg/mL liquid (0.2 mg)")
    # 2 mg diazepam-equivalent under the VA/DoD table (2 mg lorazepam ≈ 10 mg diazepam) is 0.4 mg
    assert (plan.final_mg, plan.last_dose_mg) == (Fraction(2, 5), Fraction(2, 5))
    assert plan.headline == (
        "13 reductions of at most 10 % of the current dose every 30 days, then a stop from 0.4 mg/day — 14 steps "
        "over about 14 months if no pause is needed. 7 steps are larger than the pace: 4 because no marketed form "
        "can make them, 3 to keep to one change of product, never back (reasons given).")


def test_capsules_are_given_whole_and_the_stop_is_from_the_smallest_capsule() -> None:
    """15 mg then 10 mg capsules: never back to a capsule left (before: 10 → 15 → 10 mg capsules)."""
    plan = plan_of("oxazepam", 30, per_day=3)
    assert [(s.daily_mg, amounts(s.dose), s.exceeds_pace) for s in plan.steps] == [
        (15, [("Once a day", "1 capsule (15 mg)")], True),
        (10, [("Once a day", "1 capsule (10 mg)")], True),
        (0, "stop", False),
    ]
    assert plan.beyond_pace[0].reason == ("no marketed oxazepam form gives a dose between 22.5 mg and 30 mg/day; the "
                                          "smallest amounts are one 10 mg capsule (10 mg)")
    assert plan.final_mg == 10


def test_clonazepam_uses_orally_disintegrating_tablets_for_the_whole_plan() -> None:
    plan = plan_of("clonazepam", 1)
    assert [(s.daily_mg, s.dose.product.code if s.dose else None, amounts(s.dose)) for s in plan.steps] == [
        (Fraction(3, 4), "349194", [("Morning", "3 orally disintegrating tablets (0.375 mg)"),
                                    ("Bedtime", "3 orally disintegrating tablets (0.375 mg)")]),
        (Fraction(5, 8), "349194", [("Morning", "2 orally disintegrating tablets (0.25 mg)"),
                                    ("Bedtime", "3 orally disintegrating tablets (0.375 mg)")]),
        (Fraction(1, 2), "349194", [("Morning", "2 orally disintegrating tablets (0.25 mg)"),
                                    ("Bedtime", "2 orally disintegrating tablets (0.25 mg)")]),
        (Fraction(3, 8), "349194", [("Morning", "1 orally disintegrating tablet (0.125 mg)"),
                                    ("Bedtime", "2 orally disintegrating tablets (0.25 mg)")]),
        (Fraction(1, 4), "349194", [("Morning", "1 orally disintegrating tablet (0.125 mg)"),
                                    ("Bedtime", "1 orally disintegrating tablet (0.125 mg)")]),
        (Fraction(1, 8), "349194", [("Once a day", "1 orally disintegrating tablet (0.125 mg)")]),
        (0, None, "stop"),
    ]


def test_the_product_in_use_is_kept_when_it_does_as_well_and_never_returned_to_once_left() -> None:
    def product(code: str):  # type: ignore[no-untyped-def]
        return terminology.product([SimpleCoding(RXNORM, code)])
    # clonazepam 0.5 mg tablets in use, 2 mg/day: halves keep the pace at 25 % a fortnight down to 0.75 mg
    plan = taper_plan(Fraction(2), START, taper_profile("summary"), terminology, ingredient="clonazepam",
                      product=product("197527"))
    assert products_of(plan)[0] == "197527"
    # lorazepam 1 mg tablets in use, 3 mg/day long-term: halves of 1 mg cannot make a 10 % step, so the plan
    # starts with the 0.5 mg tablets — and never goes back to the 1 mg tablets
    plan = taper_plan(Fraction(3), START, taper_profile("summary"), terminology, ingredient="lorazepam",
                      doses_per_day=3, long_term=True, product=product("197901"))
    assert "197901" not in products_of(plan) and len(products_of(plan)) <= 2


def test_diazepam_switch_plan_substitutes_in_two_stages_with_the_tablets_the_taper_starts_with() -> None:
    plan = diazepam_switch_plan(Fraction(3), START, taper_profile("summary"), terminology, ingredient="lorazepam",
                                doses_per_day=3, long_term=True)
    assert plan is not None and plan.switched_from == "lorazepam"
    assert [(s.day, s.daily_mg, s.dose.product.code if s.dose else None, amounts(s.dose), amounts(s.extra),
             s.reduction_percent) for s in plan.switch_stages] == [
        (0, 15, "197591", [("Morning", "1½ tablets (7.5 mg)"), ("Bedtime", "1½ tablets (7.5 mg)")],
         [("Morning", "1 tablet (0.5 mg)"), ("Midday", "1 tablet (0.5 mg)"), ("Bedtime", "1 tablet (0.5 mg)")], 0),
        (7, 30, "197591", [("Morning", "3 tablets (15 mg)"), ("Bedtime", "3 tablets (15 mg)")], "stop", 0),
    ]
    assert [(s.day, s.daily_mg, amounts(s.dose)) for s in plan.steps[:4]] == [
        (37, Fraction(55, 2), [("Morning", "2½ tablets (12.5 mg)"), ("Bedtime", "3 tablets (15 mg)")]),
        (67, 25, [("Morning", "2½ tablets (12.5 mg)"), ("Bedtime", "2½ tablets (12.5 mg)")]),
        (97, Fraction(45, 2), [("Morning", "2 tablets (10 mg)"), ("Bedtime", "2½ tablets (12.5 mg)")]),
        (127, Fraction(102, 5), [("Morning", "10.2 mL (10.2 mg)"), ("Bedtime", "10.2 mL (10.2 mg)")]),
    ]
    # diazepam 5 mg tablets while they keep the pace, then the 1 mg/mL liquid: one change
    assert products_of(plan) == ["197591", "309843"]
    assert not plan.beyond_pace and plan.last_dose_mg == 2
    assert plan.headline.startswith("Switch from lorazepam to diazepam in 2 stages (day 0 and 7), then 31 reductions")
    native = plan_of("lorazepam", 3, per_day=3, long_term=True)
    assert switch_recommended(native, plan)
    assert not switch_recommended(plan_of("diazepam", 20), None)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(forms.ingredients)), st.fractions(min_value=Fraction(1, 4), max_value=8),
       st.sampled_from(["summary", "joint-2025"]), st.booleans(), st.integers(1, 4))
def test_every_plan_changes_product_at_most_once_and_never_back(
        drug: str, multiple: Fraction, profile: str, long_term: bool, per_day: int) -> None:
    equivalent = terminology.equivalent_oral_dose_mg(drug, "ashton")
    assert equivalent is not None
    runs = products_of(plan_of(drug, multiple * equivalent, per_day=per_day, profile=profile, long_term=long_term))
    assert len(runs) <= 2 and len(set(runs)) == len(runs)


def test_a_one_click_step_is_the_first_step_of_the_plan() -> None:
    """The step a card suggests is the page's first step (same planner, same pace)."""
    plan = plan_of("lorazepam", 3, per_day=3, long_term=True)
    dose = Planner("lorazepam", terminology, forms).next_dose(Fraction(3), Fraction(10), 3, None)
    assert dose == plan.steps[0].dose


def test_no_plan_uses_a_strength_that_is_not_marketed_or_halves_a_capsule() -> None:
    for drug in forms.ingredients:
        equivalent = terminology.equivalent_oral_dose_mg(drug, "ashton")
        assert equivalent is not None
        for dose in (step.dose for step in plan_of(drug, 4 * equivalent, per_day=3).steps if step.dose):
            form = forms.by_code(dose.product.code)
            assert form is not None, dose.product.display  # only listed marketed forms, e.g. never lorazepam 2.5 mg
            assert all(a.units.denominator == 1 for a in dose.administrations) or form.scored or form.kind == "liquid"


def test_smallest_givable_dose_is_half_the_smallest_scored_tablet_or_one_smallest_capsule() -> None:
    def product(code: str):  # type: ignore[no-untyped-def]
        return terminology.product([SimpleCoding(RXNORM, code)])
    assert forms.smallest_givable_mg("lorazepam", product("197901")) == Fraction(1, 4)  # ½ × 0.5 mg tablet
    assert forms.smallest_givable_mg("oxazepam", product("198059")) == 10  # one 10 mg capsule
    assert forms.smallest_givable_mg("clonazepam", product("349196")) == Fraction(1, 8)  # one 0.125 mg ODT
    assert forms.smallest_givable_mg("triazolam", product("198318")) == Fraction(1, 8)
    assert forms.smallest_givable_mg("lorazepam", product("311376")) == Fraction(1, 5)  # 0.1 mL of 2 mg/mL
    assert forms.smallest_givable_mg("diazepam") == 1


@pytest.mark.parametrize(("administrations", "expected"), [
    ("even", [{"value": 1.5, "frequency": 3, "when": None}]),
    ("uneven", [{"value": 2.0, "frequency": 2, "when": ["MORN", "HS"]}, {"value": 1.5, "frequency": 1,
                                                                          "when": ["NOON"]}]),
])
def test_planned_dose_is_a_valid_r4_dosage_that_reads_back_as_the_same_daily_dose(
        administrations: str, expected: list[dict[str, object]]) -> None:
    plan = plan_of("lorazepam", 3, per_day=3, long_term=True)
    tablet = terminology.product([SimpleCoding(RXNORM, "197900")])  # lorazepam 0.5 mg
    assert tablet is not None
    dose = PlannedDose.even(tablet, 3, Fraction(3, 2)) if administrations == "even" else plan.steps[0].dose
    assert dose is not None
    valid = [R4Dosage.model_validate(line) for line in dose.dosage()]
    assert [{"value": float(line.doseAndRate[0].doseQuantity.value), "frequency": line.timing.repeat.frequency,
             "when": line.timing.repeat.when} for line in valid] == expected
    lines = [msgspec.convert(line, Dosage) for line in dose.dosage()]  # as the rules read it
    read = daily_dose(lines, dose.product, datetime(2026, 3, 16, tzinfo=UTC))
    assert isinstance(read, DailyDose) and read.mg == dose.daily_mg


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(forms.ingredients)), st.fractions(min_value=Fraction(1, 4), max_value=8),
       st.sampled_from(["summary", "joint-2025"]), st.booleans(), st.booleans(), st.integers(1, 4))
def test_every_step_keeps_the_pace_or_says_why_and_the_stop_is_never_from_above_the_final_dose(
        drug: str, multiple: Fraction, profile: str, long_term: bool, older: bool, per_day: int) -> None:
    equivalent = terminology.equivalent_oral_dose_mg(drug, "ashton")
    assert equivalent is not None
    plan = plan_of(drug, multiple * equivalent, per_day=per_day, profile=profile, long_term=long_term,
                   older_adult=older)
    previous = plan.start_mg
    for step in plan.steps[:-1]:
        assert step.dose is not None and 0 < step.daily_mg < previous
        assert (step.reduction_percent <= plan.step_percent) == (step.reason is None)
        previous = step.daily_mg
    assert plan.steps[-1].dose is None and plan.last_dose_mg <= plan.final_mg


@settings(max_examples=60, deadline=None)
@example("oxazepam", Fraction(10), 2, Fraction(1049, 1000))  # 104.9 mg/day: once no step found (below)
@given(st.sampled_from(sorted(forms.ingredients)), st.sampled_from([Fraction(10), Fraction(25)]),
       st.integers(1, 4), st.fractions(min_value=1, max_value=40))
def test_a_rounded_step_never_exceeds_the_limit(ingredient: str, limit: Fraction, per_day: int,
                                                 room: Fraction) -> None:
    """Every current dose drawn leaves room under the limit for at least one of the drug's smallest givable
    amounts (``room`` ≥ 1 of them), so a step always exists: the property checks a dose in every case, never
    passes for want of one."""
    smallest = forms.smallest_givable_mg(ingredient)
    assert smallest is not None
    current = smallest * room * 100 / limit
    dose = Planner(ingredient, terminology, forms).next_dose(current, limit, per_day, None)
    assert dose is not None, f"no step of at most {limit} % from {current} mg/day of {ingredient}"
    assert dose.daily_mg < current
    assert (current - dose.daily_mg) / current * 100 <= limit


def test_oxazepam_104_9_mg_steps_within_the_pace_with_the_10_mg_capsules() -> None:
    """Oxazepam 104.9 mg/day at a 10 % pace: the only step within it is 100 mg/day of 10 mg capsules (5 twice a
    day). From 80 mg the 15 mg capsules could keep the pace (75 mg) where the 10 mg ones cannot, but 15 mg capsules
    never reach the 10 mg stop and the plan never goes back to a product it left: that step is not one another
    product could have kept. Counted as such, it ruled out every plan starting with the 10 mg capsules, and the
    planner fell back to 90 mg of 30 mg capsules (−14.2 %), so the card offered no step at all."""
    planner = Planner("oxazepam", terminology, forms)
    current = Fraction(1049, 10)
    dose = planner.next_dose(current, Fraction(10), 2, None)
    assert dose is not None and dose.product.code == "198057"
    assert amounts(dose) == [("Morning", "5 capsules (50 mg)"), ("Bedtime", "5 capsules (50 mg)")]
    plan = plan_of("oxazepam", current, long_term=True)
    assert [(s.daily_mg, s.exceeds_pace) for s in plan.steps[:3]] == [(100, False), (90, False), (80, True)]
    assert products_of(plan) == ["198057"]
