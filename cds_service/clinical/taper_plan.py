"""Tablet-rounded taper steps and whole schedules (issue #4 items 6 and 8).

Rounding rule: a proposed dose is rounded *up* to what can be given — whole or half tablets of the
available strengths (diazepam 2/5/10 mg), or for diazepam 1 mg/mL oral solution in 0.5 mL steps when
tablets cannot make a smaller dose — so a rounded step never exceeds the profile's limit (seed guidance:
"Reduce diazepam by 10-25% of the current dose"; Joint Guideline rec. 6). Every dose per administration
is the same, so the instructions stay simple.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from cds_service.clinical.model import Product
from cds_service.clinical.profiles import TaperProfile
from cds_service.clinical.terminology import RXNORM, SimpleCoding, Terminology
from cds_service.clinical.wording import number

DIAZEPAM_SOLUTION_1_MG_PER_ML = "309843"
SOLUTION_STEPS_ML = (Fraction(1, 2), Fraction(1, 10))
FINAL_DOSE_DE = Fraction(2)
"""At or below 2 mg diazepam-equivalent (the smallest diazepam tablet) the next step is stopping
(clinical.md §6b "Final step")."""
MAX_PLAN_STEPS = 80


@dataclass(frozen=True)
class PlannedDose:
    daily_mg: Fraction
    doses_per_day: int
    per_dose_mg: Fraction
    units_per_dose: Fraction
    """Tablets (possibly ½) or mL of the product per administration."""
    product: Product

    @property
    def instruction(self) -> str:
        amount = f"{number(self.units_per_dose)} {self.product.unit}"
        if self.product.unit != "mL" and self.units_per_dose > 1:
            amount += "s"
        times = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
        return f"{amount} of {self.product.display} ({number(self.per_dose_mg)} mg) " \
               f"{times.get(self.doses_per_day, f'{self.doses_per_day} times daily')}"




def round_up_dose(target_daily_mg: Fraction, ingredient: str, doses_per_day: int, terminology: Terminology,
                  below_mg: Fraction | None = None) -> PlannedDose | None:
    """The smallest givable daily dose ≥ ``target_daily_mg`` (and < ``below_mg`` when given), with the same
    dose at each of ``doses_per_day`` administrations; ``None`` if no such dose exists.

    Tablets first — whole or half tablets of one strength per dose, whole tablets and larger strengths
    preferred; for diazepam, then the 1 mg/mL solution in 0.5 mL, then 0.1 mL steps (an oral syringe's
    graduation) when tablets cannot make the step.
    """
    doses_per_day = max(1, doses_per_day)
    per_dose_target = max(target_daily_mg, Fraction(0)) / doses_per_day
    ceiling = below_mg / doses_per_day if below_mg is not None else None

    def givable(per_dose: Fraction) -> bool:
        return per_dose > 0 and (ceiling is None or per_dose < ceiling)

    tablets = [(strength, product) for strength in terminology.tablet_strengths_mg(ingredient)
               if (product := terminology.tablet_product(ingredient, strength)) is not None]
    if tablets:
        best = min(_round_up(per_dose_target, strength / 2) for strength, _ in tablets)
        if givable(best):
            strength, product = max(
                ((s, p) for s, p in tablets if (best / (s / 2)).denominator == 1),
                key=lambda option: ((best / option[0]).denominator == 1, option[0]),
            )
            return PlannedDose(best * doses_per_day, doses_per_day, best, best / strength, product)
    if ingredient == "diazepam":
        solution = terminology.product([SimpleCoding(RXNORM, DIAZEPAM_SOLUTION_1_MG_PER_ML)])
        assert solution is not None and solution.strength_mg is not None
        for step_ml in SOLUTION_STEPS_ML:
            per_dose = _round_up(per_dose_target, step_ml * solution.strength_mg)
            if givable(per_dose):
                return PlannedDose(per_dose * doses_per_day, doses_per_day, per_dose,
                                   per_dose / solution.strength_mg, solution)
    return None


def largest_dose_below(current_daily_mg: Fraction, ingredient: str, doses_per_day: int, terminology: Terminology
                       ) -> PlannedDose | None:
    """The largest givable tablet dose below the current one — for when no step within the pace exists."""
    doses_per_day = max(1, doses_per_day)
    per_dose_now = current_daily_mg / doses_per_day
    best: PlannedDose | None = None
    for strength in terminology.tablet_strengths_mg(ingredient):
        product = terminology.tablet_product(ingredient, strength)
        half = strength / 2
        per_dose = (Fraction(math.ceil(per_dose_now / half)) - 1) * half
        if product is not None and per_dose > 0 and (best is None or per_dose > best.per_dose_mg):
            best = PlannedDose(per_dose * doses_per_day, doses_per_day, per_dose, per_dose / strength, product)
    return best


def _round_up(value: Fraction, granularity: Fraction) -> Fraction:
    return Fraction(math.ceil(value / granularity)) * granularity


@dataclass(frozen=True)
class TaperPlanStep:
    day: int
    """Days from the plan's start."""
    start: date
    dose: PlannedDose | None
    """``None`` for the final step: stop."""
    reduction_percent: Fraction
    exceeds_pace: bool = False
    """No givable dose makes a step within the pace: this step is larger (consider diazepam, rec. 7)."""


@dataclass(frozen=True)
class TaperPlan:
    ingredient: str
    start: date
    step_percent: Fraction
    interval_days: int
    steps: tuple[TaperPlanStep, ...]
    pauses_allowed: bool = True
    """Seed guidance: "pauses are acceptable when withdrawal symptoms emerge"; no fixed timeline."""


def plan_pace(profile: TaperProfile, *, long_term: bool, older_adult: bool) -> tuple[Fraction, int]:
    """Step % and interval of a plan: the slowest constraint that applies to the patient."""
    if long_term:
        return profile.long_term_max_percent, profile.long_term_window_days
    if older_adult:
        return profile.older_adult_max_step_percent, profile.older_adult_min_interval_days
    if profile.max_initial_step_percent is not None:
        return profile.max_initial_step_percent, profile.window_days or 14
    return profile.step_limit_percent, 2 * profile.min_interval_days


def taper_plan(current_daily_mg: Fraction, start: date, profile: TaperProfile, terminology: Terminology, *,
               ingredient: str = "diazepam", doses_per_day: int = 2, long_term: bool = False,
               older_adult: bool = False, equivalent_mg: Fraction = Fraction(10)) -> TaperPlan:
    """A whole schedule from ``current_daily_mg`` to zero, each step rounded up to givable doses.

    ``equivalent_mg``: the oral dose of the drug ≈ 10 mg diazepam, for the final-step threshold (2 mg DE).
    """
    percent, interval = plan_pace(profile, long_term=long_term, older_adult=older_adult)
    final_mg = FINAL_DOSE_DE * equivalent_mg / 10
    steps: list[TaperPlanStep] = []
    current = current_daily_mg
    day = 0
    while current > 0 and len(steps) < MAX_PLAN_STEPS:
        day += interval
        per_day = doses_per_day if current > final_mg else 1
        dose, exceeds = None, False
        if current > final_mg:
            dose = round_up_dose(current * (1 - percent / 100), ingredient, per_day, terminology, below_mg=current)
            if dose is None:  # the tablets cannot make a step this small; never stop early because of it
                dose, exceeds = largest_dose_below(current, ingredient, per_day, terminology), True
        new = dose.daily_mg if dose is not None else Fraction(0)
        steps.append(TaperPlanStep(day, start + timedelta(days=day), dose, (current - new) / current * 100,
                                   exceeds and dose is not None))
        current = new
    return TaperPlan(ingredient, start, percent, interval, tuple(steps))
