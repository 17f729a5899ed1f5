"""Plan sweep: every plannable benzodiazepine × daily doses of ½, 1, 2 and 4 × its 10 mg-diazepam equivalent ×
both profiles × long-term or not × older adult or not, native and diazepam-switch plans.

Prints, for native and switch plans: the product changes — plans that go back to a product they left, plans
with more than two products (of the taper drug; a switch plan's native drug is not counted), changes per plan —
the steps below half the pace where a larger step within the pace existed with the same product,
how many plans contain a step beyond the pace, and whether a givable step within the pace existed for it with a
product the plan could still use (checked here by brute force over every form, amount and number of doses,
independently of the planner; before the plan's one change every product that could finish the plan alone — only
liquids once on a liquid, which is for the tail — and after it only the product in use),
the steps that gave up the pace to keep to the product rules (a givable step existed only with a product the
plan had left or may not change to; each says so), how many end by stopping from above the final-step dose
(docs/clinical-reference.md §8d), the drugs affected, and each remaining exception with its reason.
Run: ``make plans``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from cds_service.clinical.dose_forms import load_dose_forms
from cds_service.clinical.profiles import taper_profile
from cds_service.clinical.taper_plan import (
    FINAL_DOSE_DE,
    TABLES,
    TaperPlan,
    diazepam_switch_plan,
    distribute,
    taper_plan,
)
from cds_service.clinical.terminology import RXNORM, SimpleCoding, load_terminology
from cds_service.clinical.wording import number

MULTIPLES = (Fraction(1, 2), Fraction(1), Fraction(2), Fraction(4))
START = date(2026, 3, 16)
DOSES_PER_DAY = 2


@dataclass
class Tally:
    plans: int = 0
    beyond_pace: int = 0
    beyond_pace_with_givable_step: int = 0
    beyond_pace_for_one_change: int = 0
    small_with_larger_step: int = 0
    flip_backs: int = 0
    over_two_products: int = 0
    changes: Counter[int] = field(default_factory=Counter)
    above_final: int = 0
    drugs: set[str] = field(default_factory=set)
    exceptions: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def givable_step_exists(ingredient: str, current: Fraction, limit: Fraction, per_day: int,
                        codes: set[str] | None = None, below: Fraction | None = None) -> bool:
    """Any single-product dose in [current × (1 − limit), current) — or below ``below`` — that can be given, by
    brute force (only with the products ``codes`` when given)."""
    terminology = load_terminology()
    low = current * (1 - limit / 100)
    for form in load_dose_forms().forms(ingredient):
        if codes is not None and form.code not in codes:
            continue
        product = terminology.product([SimpleCoding(RXNORM, form.code)])
        assert product is not None
        units = -(-low // form.step_mg)
        while units * form.step_mg < (current if below is None else below):
            if units > 0 and any(distribute(form, product, units * form.step_mg, n, None) is not None
                                 for n in range(1, per_day + 1)):
                return True
            units += 1
    return False


def final_dose_mg(ingredient: str, plan: TaperPlan) -> Fraction:
    """§8d computed here from the tables and the last product, not from the planner's own figure."""
    terminology = load_terminology()
    by_table = [FINAL_DOSE_DE * e / 10 for t in TABLES
                if (e := terminology.equivalent_oral_dose_mg(ingredient, t)) is not None]
    last = [step.dose.product for step in (*plan.switch_stages, *plan.steps) if step.dose is not None]
    smallest = load_dose_forms().smallest_givable_mg(ingredient, last[-1] if last else None)
    return max([*by_table, smallest or Fraction(0)])


def finishes_alone(ingredient: str, code: str) -> bool:
    """Whether a plan changed to this product could reach the final step with it alone (the change is the plan's
    one): its smallest dose is at most the dose a stop may be made from with it (§8d). Oxazepam 15 mg capsules
    cannot: the smallest capsule of the drug is 10 mg, so a stop is made from 10 mg, never from 15."""
    terminology = load_terminology()
    form = load_dose_forms().by_code(code)
    product = terminology.product([SimpleCoding(RXNORM, code)])
    assert form is not None and product is not None
    by_table = [FINAL_DOSE_DE * e / 10 for t in TABLES
                if (e := terminology.equivalent_oral_dose_mg(ingredient, t)) is not None]
    return form.step_mg <= max([*by_table, load_dose_forms().smallest_givable_mg(ingredient, product) or Fraction(0)])


def products(plan: TaperPlan, ingredient: str) -> list[str]:
    """The taper drug's products in the order the plan uses them, one entry per run of steps."""
    runs: list[str] = []
    for step in (*plan.switch_stages, *plan.steps):
        for dose in (step.dose, step.extra):
            code = dose.product.code or "" if dose is not None else None
            if dose is not None and dose.product.ingredient == ingredient and (not runs or runs[-1] != code):
                runs.append(code or "")
    return runs


def check(plan: TaperPlan, ingredient: str, tally: Tally) -> None:
    tally.plans += 1
    runs = products(plan, ingredient)
    tally.changes[max(len(runs) - 1, 0)] += 1
    tally.flip_backs += len(runs) != len(set(runs))
    tally.over_two_products += len(set(runs)) > 2
    every = {form.code for form in load_dose_forms().forms(ingredient)}
    liquids = {form.code for form in load_dose_forms().forms(ingredient) if not form.is_solid}
    current = plan.switch_stages[-1].daily_mg if plan.switch_stages else plan.start_mg
    per_day = plan.switch_stages[-1].dose.doses_per_day if plan.switch_stages and plan.switch_stages[-1].dose \
        else DOSES_PER_DAY
    in_use = plan.switch_stages[-1].dose.product.code if plan.switch_stages and plan.switch_stages[-1].dose else None
    changed = False
    beyond = False
    for step in plan.steps:
        if step.dose is None:
            break
        code = step.dose.product.code or ""
        if in_use is not None and code != in_use:
            changed = True
        if step.reduction_percent * 2 < plan.step_percent and givable_step_exists(
                ingredient, current, plan.step_percent, per_day, {code}, below=step.daily_mg):
            tally.small_with_larger_step += 1
        if step.reduction_percent > plan.step_percent:
            beyond = True
            # before the one change every product that could finish alone, except tablets or capsules once on a
            # liquid (for the tail)
            liquid = load_dose_forms().by_code(code)
            still_usable = {code} if changed else {code} | {
                other for other in (every if liquid is None or liquid.is_solid else liquids)
                if finishes_alone(ingredient, other)}
            if givable_step_exists(ingredient, current, plan.step_percent, per_day, still_usable):
                tally.beyond_pace_with_givable_step += 1
            elif givable_step_exists(ingredient, current, plan.step_percent, per_day):
                tally.beyond_pace_for_one_change += 1
            tally.exceptions[ingredient][step.reason or "no reason given"] += 1
        current, per_day, in_use = step.daily_mg, step.dose.doses_per_day, code
    if beyond:
        tally.beyond_pace += 1
        tally.drugs.add(ingredient)
    if plan.last_dose_mg > final_dose_mg(ingredient, plan):
        tally.above_final += 1


def sweep(ingredients: tuple[str, ...] | None = None) -> tuple[Tally, Tally, int]:
    """(native plans, diazepam-switch plans, native plans where the switch is recommended)."""
    terminology = load_terminology()
    native, switched, recommended = Tally(), Tally(), 0
    for ingredient in ingredients or load_dose_forms().ingredients:
        equivalent = terminology.equivalent_oral_dose_mg(ingredient, "ashton")
        assert equivalent is not None
        for multiple in MULTIPLES:
            for profile in ("summary", "joint-2025"):
                for long_term in (False, True):
                    for older in (False, True):
                        args = (multiple * equivalent, START, taper_profile(profile), terminology)
                        kwargs = {"ingredient": ingredient, "doses_per_day": DOSES_PER_DAY, "long_term": long_term,
                                  "older_adult": older}
                        plan = taper_plan(*args, **kwargs)  # type: ignore[arg-type]
                        check(plan, ingredient, native)
                        switch = diazepam_switch_plan(*args, **kwargs)  # type: ignore[arg-type]
                        if switch is not None:
                            check(switch, "diazepam", switched)
                            recommended += bool(plan.beyond_pace) and len(switch.beyond_pace) < len(plan.beyond_pace)
    return native, switched, recommended


def report(name: str, tally: Tally) -> None:
    changes = ", ".join(f"{count} with {n}" for n, count in sorted(tally.changes.items()))
    print(f"{name}: {tally.plans} plans. Product changes: {tally.flip_backs} plans go back to a product they left; "
          f"{tally.over_two_products} use more than two products; changes per plan: {changes}.")
    print(f"  Small steps: {tally.small_with_larger_step} steps below half the pace where a larger step within the "
          "pace existed with the same product.")
    print(f"  Pace: {tally.beyond_pace} plans with a step beyond the pace; "
          f"{tally.beyond_pace_with_givable_step} steps beyond the pace where a givable step within it existed with "
          f"a product the plan could still use; {tally.beyond_pace_for_one_change} steps that gave up the pace to "
          f"keep to the product rules (one change, never back, the liquid for the tail; each says so); "
          f"{tally.above_final} plans ending above the final-step "
          f"dose; drugs affected: {', '.join(sorted(tally.drugs)) or 'none'}")
    for ingredient, reasons in sorted(tally.exceptions.items()):
        print(f"  {ingredient}: {sum(reasons.values())} steps beyond the pace, e.g. {reasons.most_common(1)[0][0]}")


def main() -> None:
    native, switched, recommended = sweep()
    report("Native plans", native)
    report("Diazepam-switch plans", switched)
    print(f"Switch recommended (native plan has steps beyond the pace, switch plan fewer): {recommended} of "
          f"{native.plans} ({number(Fraction(100 * recommended, native.plans), 1)} %)")


if __name__ == "__main__":
    main()
