"""Givable taper steps and whole schedules: the native-drug plan and the diazepam-switch plan.

A plan is what a patient can follow (docs/clinical-reference.md §12), decided in this order:

1. **Products**: at most one change of product, never back to a product left, and from a liquid never back to
   tablets or capsules — tablets while they keep the pace, then the liquid for the tail.
2. **No needless small steps**: each product makes the largest step within the pace it can, so no step is below
   half the pace when a larger step within the pace exists with the same product.
3. **The pace**: at most the profile's step % of the *current* dose (seed guidance: "Reduce diazepam by 10-25% of
   the current dose"; 2025 Joint Guideline rec. 6) wherever a product the plan may still use can give it.

Where these conflict the step says which it gave up and why. Doses come from the marketed forms
(``dose_forms.json``): whole capsules and orally disintegrating tablets, half tablets only of scored tablets,
oral liquids in 0.1 mL steps. Divided doses may be uneven, the larger amounts at bedtime, then in the morning (the
lorazepam label: "the largest dose being taken before bedtime"); in the low-dose band (≤ 10 mg
diazepam-equivalent, Joint Guideline Table 2) doses are consolidated to fewer a day, as established schedules do
(Ashton Manual schedules end on a single daily dose).

A plan ends with the final step of docs/clinical-reference.md §8d: a stop only from ≤ 2 mg diazepam-equivalent
under either table, or from the smallest dose the product in use can give. The diazepam-switch plan (Joint
Guideline rec. 7: "Consider switching to a comparable dose of a longer-acting BZD"; Table 7 note: transition
"over 1–2 weeks") is offered beside it. One-click steps are the first step of the same plan
(:meth:`Planner.next_dose`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction
from functools import cached_property, lru_cache

from cds_service.clinical.dose_forms import DoseForm, DoseForms, FormKind, load_dose_forms
from cds_service.clinical.equivalence import TABLE_NAMES as TABLE_NAMES
from cds_service.clinical.equivalence import TABLES, diazepam_equivalent, drug_mg
from cds_service.clinical.model import EquivalenceTable, Product
from cds_service.clinical.profiles import TaperProfile, shared_thresholds
from cds_service.clinical.terminology import RXNORM, SimpleCoding, Terminology
from cds_service.clinical.wording import measured, mg, number, percent

FINAL_DOSE_DE = shared_thresholds().final_step_max_de
"""A stop from ≤ 2 mg diazepam-equivalent under either table is a final step (docs/clinical-reference.md §8d;
``profiles.json``)."""
LOW_DOSE_DE = Fraction(10)
"""Joint Guideline Table 2 "low dose" band: from here doses are consolidated to fewer a day."""
CONSOLIDATE_DE = Fraction(5, 2)
MAX_UNITS_PER_ADMINISTRATION = Fraction(4)
"""More tablets or capsules than this at one time: a larger strength is used instead."""
BULKY_UNITS = Fraction(3)
"""More tablets or capsules than this at one time: givable, but a plan with fewer is preferred."""
SWITCH_STAGE_DAYS = 7
"""Two substitution stages a week apart: the switch takes 1–2 weeks (Joint Guideline Table 7 note)."""
MAX_PLAN_STEPS = 120

SLOTS: dict[int, tuple[str, ...]] = {1: ("",), 2: ("MORN", "HS"), 3: ("MORN", "NOON", "HS"),
                                     4: ("MORN", "NOON", "EVE", "HS")}
"""FHIR R4 EventTiming codes of each administration; a single daily dose keeps its time unset."""
LARGER_FIRST = ("HS", "MORN", "EVE", "NOON")
SLOT_WORDS = {"": "once a day", "MORN": "in the morning", "NOON": "at midday", "EVE": "in the evening",
              "HS": "at bedtime"}
SLOT_NAMES = {"": "Once a day", "MORN": "Morning", "NOON": "Midday", "EVE": "Evening", "HS": "Bedtime"}
TIMES_A_DAY = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
_KIND_RANK: dict[FormKind, int] = {"tablet": 0, "capsule": 0, "odt": 1, "liquid": 2}
_UNIT_CODES = {"mL": "mL", "capsule": "{capsule}"}
_ORAL_ROUTE = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]}


def _kind(product: Product) -> FormKind:
    if product.unit == "mL":
        return "liquid"
    if product.unit == "capsule":
        return "capsule"
    return "odt" if "Disintegrating" in product.dose_form else "tablet"


@dataclass(frozen=True)
class Administration:
    when: str
    """FHIR EventTiming code (``MORN``, ``NOON``, ``EVE``, ``HS``); empty for a single daily dose."""
    units: Fraction
    """Tablets (possibly ½), capsules or mL of the product."""


@dataclass(frozen=True)
class PlannedDose:
    """A daily regimen of one product: the amount of each administration."""

    product: Product
    administrations: tuple[Administration, ...]

    @classmethod
    def even(cls, product: Product, doses_per_day: int, units: Fraction) -> PlannedDose:
        return cls(product, tuple(Administration(when, units) for when in SLOTS[doses_per_day]))

    @property
    def doses_per_day(self) -> int:
        return len(self.administrations)

    @cached_property
    def daily_mg(self) -> Fraction:
        return sum((a.units for a in self.administrations), Fraction(0)) * (self.product.strength_mg or 0)

    @property
    def is_even(self) -> bool:
        return len({a.units for a in self.administrations}) == 1

    def amount(self, administration: Administration) -> str:
        """"1½ tablets (0.75 mg)"."""
        form = DoseForm(self.product.ingredient, self.product.code or "", self.product.display,
                        _kind(self.product), self.product.strength_mg or Fraction(0))
        return f"{form.amount(administration.units)} ({mg(administration.units * form.strength_mg)})"

    @property
    def per_administration(self) -> tuple[tuple[str, str], ...]:
        """(time of day, amount) of each administration, for tables and the patient handout."""
        return tuple((SLOT_NAMES[a.when], self.amount(a)) for a in self.administrations)

    @property
    def instruction(self) -> str:
        """The dose instructions a prescription carries: amount per administration and timing."""
        if self.is_even:
            first = self.administrations[0]
            amount = self.amount(first)
            units, strength = amount.split(" (")
            return f"{units} of {self.product.display} ({strength} {TIMES_A_DAY[self.doses_per_day]}"
        parts = [f"{self.amount(a)} {SLOT_WORDS[a.when]}" for a in self.administrations]
        return f"{self.product.display}: {', '.join(parts[:-1])} and {parts[-1]}"

    def dosage(self) -> list[dict[str, object]]:
        """FHIR R4 ``dosageInstruction``: one line per distinct amount, each with its times of day."""
        unit = _UNIT_CODES.get(self.product.unit, "{tablet}")
        groups: dict[Fraction, list[str]] = {}
        for administration in self.administrations:
            groups.setdefault(administration.units, []).append(administration.when)
        lines: list[dict[str, object]] = []
        for units, whens in groups.items():
            repeat: dict[str, object] = {"frequency": len(whens), "period": 1, "periodUnit": "d"}
            if len(groups) > 1:
                repeat["when"] = whens
            text = self.instruction if len(groups) == 1 else \
                f"{self.amount(Administration('', units))} of {self.product.display} " \
                f"{' and '.join(SLOT_WORDS[w] for w in whens)}"
            lines.append({
                "sequence": 1, "text": text, "timing": {"repeat": repeat}, "route": _ORAL_ROUTE,
                "doseAndRate": [{"doseQuantity": {"value": float(units), "unit": unit,
                                                  "system": "http://unitsofmeasure.org", "code": unit}}],
            })
        return lines


def distribute(form: DoseForm, product: Product, daily_mg: Fraction, doses_per_day: int,
               max_units: Fraction | None = MAX_UNITS_PER_ADMINISTRATION) -> PlannedDose | None:
    """``daily_mg`` as whole steps of ``form`` over at most ``doses_per_day`` administrations, the larger
    amounts first at bedtime, then in the morning; ``None`` if it is not a whole number of steps or needs more
    than ``max_units`` tablets or capsules at one time."""
    steps = daily_mg / form.step_mg
    if steps.denominator != 1 or steps <= 0:
        return None
    count = int(steps)
    per_day = max(1, min(doses_per_day, count, 4))
    base, extra = divmod(count, per_day)
    slots = SLOTS[per_day]
    larger = {slot for slot in LARGER_FIRST if slot in slots}
    larger = set([slot for slot in LARGER_FIRST if slot in larger][:extra])
    administrations = tuple(Administration(slot, (base + (slot in larger)) * form.step_units) for slot in slots)
    if form.is_solid and max_units is not None and max(a.units for a in administrations) > max_units:
        return None
    return PlannedDose(product, administrations)


@dataclass(frozen=True)
class Planner:
    """Givable doses of one drug: the forms, their products and the equivalences."""

    ingredient: str
    terminology: Terminology
    forms: DoseForms
    table: EquivalenceTable = "ashton"

    def product(self, form: DoseForm) -> Product:
        product = self.terminology.product([SimpleCoding(RXNORM, form.code)])
        assert product is not None, f"dose_forms.json code {form.code} is not in products.json"
        return product

    def form_of(self, product: Product | None) -> DoseForm | None:
        return self.forms.by_code(product.code) if product is not None else None

    def de(self, daily_mg: Fraction, table: EquivalenceTable | None = None) -> Fraction | None:
        """The shared diazepam-equivalent (``equivalence.py``); ``None`` when the table has no factor."""
        return diazepam_equivalent(self.terminology, [(self.ingredient, daily_mg)], table or self.table).mg

    def final_step_mg(self, product: Product | None) -> Fraction:
        """The dose a stop may be made from (§8d): ≤ 2 mg diazepam-equivalent under either table, or the
        smallest dose the product in use can give."""
        by_table = [dose for table in TABLES
                    if (dose := drug_mg(self.terminology, self.ingredient, FINAL_DOSE_DE, table)) is not None]
        smallest = self.forms.smallest_givable_mg(self.ingredient, product)
        return max([*by_table, smallest or Fraction(0)])

    def doses_allowed(self, daily_mg: Fraction, current_per_day: int) -> int:
        """Fewer administrations in the low-dose band (≤ 10 mg diazepam-equivalent): about one per 2.5 mg
        diazepam-equivalent, so the last steps are a single daily dose."""
        de = self.de(daily_mg)
        if de is None or de > LOW_DOSE_DE:
            return current_per_day
        return max(1, min(current_per_day, math.ceil(de / CONSOLIDATE_DE)))

    def grids(self, form: DoseForm, daily_mg: Fraction, per_day: int) -> tuple[Fraction, ...]:
        """Daily-dose steps of a form: liquids in equal measured volumes at each administration first, else in
        single measured steps."""
        if form.kind != "liquid":
            return (form.step_mg,)
        return (form.step_mg * self.doses_allowed(daily_mg, per_day), form.step_mg)

    def _options(self, daily_of: list[tuple[DoseForm, Fraction]], per_day: int) -> list[PlannedDose]:
        """The doses that can be given; more than four units at a time only when nothing else can (a patient
        already taking many tablets at once)."""
        for max_units in (MAX_UNITS_PER_ADMINISTRATION, None):
            doses = [dose for form, daily in daily_of
                     if (dose := distribute(form, self.product(form), daily, self.doses_allowed(daily, per_day),
                                            max_units)) is not None]
            if doses:
                return doses
        return []

    def within_pace(self, form: DoseForm, current_mg: Fraction, limit_percent: Fraction, per_day: int
                    ) -> PlannedDose | None:
        """The largest reduction of at most ``limit_percent`` that ``form`` alone can give, or ``None``.
        A liquid keeps equal measured volumes at each administration when that still makes a step of at least
        half the limit."""
        target = current_mg * (1 - limit_percent / 100)
        daily_of = [(form, max(Fraction(math.ceil(target / grid)), Fraction(1)) * grid)
                    for grid in self.grids(form, target, per_day)]
        options = self._options([(f, daily) for f, daily in daily_of if daily < current_mg], per_day)
        if not options:
            return None
        largest = min(options, key=lambda dose: dose.daily_mg)
        even = [dose for dose in options if dose.is_even
                and (current_mg - dose.daily_mg) * 2 >= (current_mg - target)]
        return min(even, key=lambda dose: dose.daily_mg) if even and form.kind == "liquid" else largest

    def below(self, form: DoseForm, current_mg: Fraction, per_day: int) -> PlannedDose | None:
        """The nearest dose below ``current_mg`` that ``form`` alone can give: for when it cannot keep the pace."""
        daily_of = [(form, (Fraction(math.ceil(current_mg / grid)) - 1) * grid)
                    for grid in self.grids(form, current_mg, per_day)]
        options = self._options([(f, daily) for f, daily in daily_of if daily > 0], per_day)
        return max(options, key=lambda dose: (dose.daily_mg, dose.is_even), default=None)

    def next_dose(self, current_mg: Fraction, limit_percent: Fraction, per_day: int,
                  previous: Product | None) -> PlannedDose | None:
        """The first step of the plan (:func:`best_steps`) from ``current_mg`` at a pace of ``limit_percent``
        when it keeps that pace, else ``None``: a one-click step follows the same plan as the page. The plan
        starts with ``previous`` (the draft's product: a dose change keeps it) when that product can make a step
        within the pace."""
        steps = best_steps(self, current_mg, per_day, previous, limit_percent)
        first = steps[0] if steps else None
        return first.dose if first is not None and first.dose is not None and not first.exceeds_pace else None

    def nearest_dose(self, daily_mg: Fraction, per_day: int) -> PlannedDose | None:
        """The givable dose nearest ``daily_mg`` (ties: the higher), solids before liquids: for a switch."""
        options: list[PlannedDose] = []
        for form in self.forms.forms(self.ingredient):
            lower = Fraction(math.floor(daily_mg / form.step_mg)) * form.step_mg
            candidates = [(form, lower + form.step_mg if lower < daily_mg else lower)]
            if 0 < lower < daily_mg:
                candidates.append((form, lower))
            options += self._options(candidates, per_day)
        return min(options, key=lambda dose: (not _is_solid(dose), abs(dose.daily_mg - daily_mg), -dose.daily_mg,
                                              _KIND_RANK[_kind(dose.product)], -(dose.product.strength_mg or 0)),
                   default=None)

    def nearest_in(self, form: DoseForm, daily_mg: Fraction, per_day: int) -> PlannedDose | None:
        """The dose of ``form`` nearest ``daily_mg`` (ties: the higher), for a switch stage in the product the
        taper then uses."""
        lower = Fraction(math.floor(daily_mg / form.step_mg)) * form.step_mg
        candidates = [lower + form.step_mg if lower < daily_mg else lower] + ([lower] if 0 < lower < daily_mg else [])
        options = [dose for daily in candidates
                   if (dose := distribute(form, self.product(form), daily, per_day)) is not None]
        return min(options, key=lambda dose: (abs(dose.daily_mg - daily_mg), -dose.daily_mg), default=None)

    def limits_text(self) -> str:
        """The smallest amount of each kind of form, in a prescriber's words: why no smaller step exists."""
        forms = self.forms.forms(self.ingredient)
        smallest = []
        for form in forms:
            if form.kind != "liquid" and form.strength_mg != min(f.strength_mg for f in forms if f.kind == form.kind):
                continue
            unit = {"tablet": "tablet", "odt": "orally disintegrating tablet", "capsule": "capsule"}.get(form.kind)
            if unit is None:
                what = f"{number(form.step_units)} mL of the {number(form.strength_mg)} mg/mL liquid"
            else:
                what = f"{'half a scored' if form.scored and form.kind == 'tablet' else 'one'} " \
                       f"{number(form.strength_mg)} mg {unit}"
            smallest.append(f"{what} ({mg(form.step_mg)})")
        return "; ".join(smallest)


def _is_solid(dose: PlannedDose) -> bool:
    return _kind(dose.product) != "liquid"


@dataclass(frozen=True)
class TaperPlanStep:
    day: int
    """Days from the plan's start."""
    start: date
    dose: PlannedDose | None
    """``None`` for the final step: stop."""
    reduction_percent: Fraction
    exceeds_pace: bool = False
    reason: str | None = None
    """Why a step is larger than the pace, in a prescriber's words."""
    extra: PlannedDose | None = None
    """A second product taken at the same time (a diazepam-switch stage: the native drug's remainder)."""

    @property
    def daily_mg(self) -> Fraction:
        return self.dose.daily_mg if self.dose is not None else Fraction(0)


@dataclass(frozen=True)
class TaperPlan:
    ingredient: str
    start: date
    start_mg: Fraction
    step_percent: Fraction
    interval_days: int
    steps: tuple[TaperPlanStep, ...]
    final_mg: Fraction
    """A stop is made only from this daily dose or less (§8d)."""
    stop_de: Fraction | None = None
    """Diazepam-equivalent of the dose the stop is made from: the lower of the two tables."""
    switched_from: str | None = None
    switch_stages: tuple[TaperPlanStep, ...] = ()
    """Diazepam-switch plan: the substitution stages before the diazepam steps (``dose`` diazepam, ``extra`` the
    native drug still taken)."""

    @property
    def reductions(self) -> tuple[TaperPlanStep, ...]:
        return tuple(step for step in self.steps if step.dose is not None)

    @property
    def beyond_pace(self) -> tuple[TaperPlanStep, ...]:
        return tuple(step for step in self.steps if step.exceeds_pace)

    @property
    def last_dose_mg(self) -> Fraction:
        """The daily dose the stop is made from."""
        doses = [step.daily_mg for step in (*self.switch_stages, *self.steps) if step.dose is not None]
        return doses[-1] if doses else self.start_mg

    @property
    def last_day(self) -> int:
        return self.steps[-1].day if self.steps else 0

    @property
    def headline(self) -> str:
        """The pace and the number of steps actually planned."""
        reductions = len(self.reductions)
        text = (f"{reductions} reduction{'s' if reductions != 1 else ''} of at most {percent(self.step_percent)} of "
                f"the current dose every {self.interval_days} days, then a stop from {mg(self.last_dose_mg)}/day "
                f"— {len(self.steps)} steps over about {measured(Fraction(self.last_day, 30))} months if no "
                "pause is needed")
        if self.switch_stages:
            days = " and ".join(str(stage.day) for stage in self.switch_stages)
            stages = len(self.switch_stages)
            text = (f"Switch from {self.switched_from} to diazepam in {stages} stage{'s' if stages != 1 else ''} "
                    f"(day {days}), then {text}")
        beyond = len(self.beyond_pace)
        if beyond:
            # which rule each step gave the pace up for: the marketed forms, or the product rules (§12)
            forms = sum(1 for step in self.beyond_pace if (step.reason or "").startswith("no marketed "))
            why = [f"{forms} because no marketed form can make {'it' if forms == 1 else 'them'}"] if forms else []
            if beyond - forms:
                why.append(f"{beyond - forms} to keep to one change of product, never back")
            text += (f". {beyond} step{'s are' if beyond != 1 else ' is'} larger than the pace: {', '.join(why)} "
                     "(reasons given)")
        return text + "."


def plan_pace(profile: TaperProfile, *, long_term: bool, older_adult: bool) -> tuple[Fraction, int]:
    """Step % and interval of a plan: the slowest constraint that applies to the patient."""
    if long_term:
        return profile.long_term_max_percent, profile.long_term_window_days
    if older_adult:
        return profile.older_adult_max_step_percent, profile.older_adult_min_interval_days
    if profile.max_initial_step_percent is not None:
        return profile.max_initial_step_percent, profile.window_days or 14
    return profile.step_limit_percent, 2 * profile.min_interval_days


@dataclass(frozen=True)
class _Move:
    """One reduction with one product, and what it costs the patient (see :func:`best_steps`)."""

    dose: PlannedDose
    percent: Fraction
    within: bool
    crowded: bool


_Cost = tuple[int, int, int, float, int, int, int, int]
"""Steps beyond the pace that another product could have kept while a change was still open; steps beyond the
pace that another product could have kept at all (a plan that spends its one change early gains nothing); steps
with more
than four units at a time; how much faster than the pace the other steps go (the sum of log((1 − pace) /
(1 − step)), 0 when every step keeps it, and of log(stop dose / lowest stop dose)); steps below half the pace;
steps with more than three tablets or capsules at one time; steps with a liquid; steps. Compared in this order, the
number of products between the last two."""
_ZERO: _Cost = (0, 0, 0, 0.0, 0, 0, 0, 0)


def _add(a: _Cost, b: _Cost) -> _Cost:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], round(a[3] + b[3], 9), a[4] + b[4], a[5] + b[5], a[6] + b[6],
            a[7] + b[7])


class _Search:
    """The plan a patient can follow (docs/clinical-reference.md §12): one product, or one product and then one
    other — never back to a product left — with each product making the largest step within the pace it can."""

    def __init__(self, planner: Planner, percent_: Fraction) -> None:
        self.planner = planner
        self.percent = percent_
        self.forms = planner.forms.forms(planner.ingredient)
        self._moves: dict[tuple[str, Fraction, int], _Move | None] = {}
        self._within: dict[tuple[str, Fraction, int], PlannedDose | None] = {}
        self._suffix: dict[tuple[str, Fraction, int], tuple[_Cost, tuple[_Move, ...]] | None] = {}
        self._final: dict[str, Fraction] = {}
        self.left: str | None = None
        """The product in use when the plan starts with another one: never returned to."""

    def final(self, form: DoseForm) -> Fraction:
        if form.code not in self._final:
            self._final[form.code] = self.planner.final_step_mg(self.planner.product(form))
        return self._final[form.code]

    def within(self, form: DoseForm, current: Fraction, per_day: int) -> PlannedDose | None:
        key = (form.code, current, per_day)
        if key not in self._within:
            self._within[key] = self.planner.within_pace(form, current, self.percent, per_day)
        return self._within[key]

    def next_products(self, form: DoseForm) -> list[DoseForm]:
        """The products a plan in ``form`` may still change to: never one it left, never from a liquid back to
        tablets or capsules (the liquid is for the tail)."""
        return [other for other in self.forms if other.code != form.code and other.code != self.left
                and not (form.kind == "liquid" and other.is_solid)]

    def others_within(self, form: DoseForm, current: Fraction, per_day: int) -> list[PlannedDose]:
        return [dose for other in self.forms if other.code != form.code
                and (dose := self.within(other, current, per_day)) is not None]

    def move(self, form: DoseForm, current: Fraction, per_day: int) -> _Move | None:
        key = (form.code, current, per_day)
        if key not in self._moves:
            dose = self.within(form, current, per_day)
            within = dose is not None
            dose = dose or self.planner.below(form, current, per_day)
            self._moves[key] = None if dose is None else _Move(
                dose, (current - dose.daily_mg) / current * 100, within,
                form.is_solid and max(a.units for a in dose.administrations) > MAX_UNITS_PER_ADMINISTRATION)
        return self._moves[key]

    def cost(self, form: DoseForm, current: Fraction, per_day: int, move: _Move, change_open: bool) -> _Cost:
        beyond = not move.within
        avoidable = beyond and change_open and any(self.keeps_pace_to_the_end(other, current, per_day)
                                                   for other in self.next_products(form))
        # a dose at or below the lowest any form may stop from is a place to stop: going lower is not counted
        landed = max(move.dose.daily_mg, self.lowest_final)
        excess = max(0.0, math.log((1 - float(self.percent) / 100) * float(current / landed))) if beyond else 0.0
        small = move.within and move.percent * 2 < self.percent
        elsewhere = beyond and bool(self.others_within(form, current, per_day))
        bulky = form.is_solid and max(a.units for a in move.dose.administrations) > BULKY_UNITS
        return (int(avoidable), int(elsewhere), int(move.crowded), round(excess, 9), int(small), int(bulky),
                int(form.kind == "liquid"), 1)

    def keeps_pace_to_the_end(self, other: DoseForm, current: Fraction, per_day: int) -> bool:
        """Whether changing to ``other`` at ``current`` keeps the pace there and still reaches the final step.
        Keeping the pace is not enough: oxazepam 104.5 mg/day at a 10 % pace steps to 100 mg with 10 mg capsules
        (the only step within it), and from 80 mg the 15 mg capsules could keep the pace (75 mg) where the 10 mg
        ones cannot (70 mg, −12.5 %) — but 15 mg capsules can never stop from 10 mg, and the plan cannot go back
        to the 10 mg ones. Counting that step as avoidable would rule out the one plan that starts within the pace."""
        if self.within(other, current, per_day) is None:
            return False
        tail = self.suffix(other, current, per_day)
        return tail is not None and bool(tail[1])

    @cached_property
    def lowest_final(self) -> Fraction:
        return min(self.final(form) for form in self.forms)

    def stop_excess(self, last_mg: Fraction) -> float:
        """A stop from above the lowest dose any form may stop from counts as a step beyond the pace to it: the
        plan with the gentler landing wins."""
        lowest = self.lowest_final
        return round(math.log(float(last_mg / lowest)), 9) if last_mg > lowest else 0.0

    def walk(self, form: DoseForm, current: Fraction, per_day: int) -> list[tuple[Fraction, int, _Move]] | None:
        """``form`` alone to the final step: (dose before, doses a day before, move) of each reduction; ``None``
        when it cannot get there."""
        walked: list[tuple[Fraction, int, _Move]] = []
        while current > self.final(form) and len(walked) < MAX_PLAN_STEPS:
            move = self.move(form, current, per_day)
            if move is None:
                return None  # the product cannot reach a dose the stop may be made from
            walked.append((current, per_day, move))
            current, per_day = move.dose.daily_mg, move.dose.doses_per_day
        return walked

    def walk_until_stuck(self, form: DoseForm, current: Fraction, per_day: int) -> list[tuple[Fraction, int, _Move]]:
        """The steps ``form`` can make before it can go no lower: a first product another one finishes."""
        walked: list[tuple[Fraction, int, _Move]] = []
        while current > self.final(form) and len(walked) < MAX_PLAN_STEPS:
            move = self.move(form, current, per_day)
            if move is None:
                break
            walked.append((current, per_day, move))
            current, per_day = move.dose.daily_mg, move.dose.doses_per_day
        return walked

    def suffix(self, form: DoseForm, current: Fraction, per_day: int) -> tuple[_Cost, tuple[_Move, ...]] | None:
        """``form`` alone from here, after the plan's one change of product (no change left open); ``None`` when
        it cannot reach the final step."""
        path: list[tuple[tuple[str, Fraction, int], _Cost, _Move]] = []
        key = (form.code, current, per_day)
        end: tuple[_Cost, tuple[_Move, ...]] | None = (_ZERO, ())
        while key not in self._suffix:
            if current <= self.final(form):
                break
            move = self.move(form, current, per_day) if len(path) < MAX_PLAN_STEPS else None
            if move is None:
                end = None  # the product cannot reach a dose the stop may be made from
                break
            path.append((key, self.cost(form, current, per_day, move, False), move))
            current, per_day = move.dose.daily_mg, move.dose.doses_per_day
            key = (form.code, current, per_day)
        else:
            end = self._suffix[key]
        self._suffix[key] = end
        for visited, cost, move in reversed(path):
            end = None if end is None else (_add(cost, end[0]), (move, *end[1]))
            self._suffix[visited] = end
        return end

    def best(self, current: Fraction, per_day: int, product: Product | None,
             starts: tuple[DoseForm, ...] | None = None, prune: bool = True) -> tuple[_Move, ...]:
        """Every candidate plan — each first product alone, or switched once to each other product after each
        number of its steps — and the one that costs the patient least (:data:`_Cost`, then fewer products,
        then the order of the dose-form table)."""
        in_use = self.planner.form_of(product)
        firsts = starts or self.forms
        if in_use is not None and in_use.ingredient == self.planner.ingredient and not starts:
            # the product in use first (kept on a tie); a plan that starts with another never comes back to it
            firsts = (in_use, *(form for form in firsts if form.code != in_use.code))
        else:
            in_use = None
        best: tuple[tuple[int | float, ...], tuple[_Move, ...]] | None = None
        rank = 0
        for first in firsts:
            self.left = in_use.code if in_use is not None and in_use.code != first.code else None
            walked = self.walk(first, current, per_day)
            if walked is None:
                walked = self.walk_until_stuck(first, current, per_day)
                complete = False
            else:
                complete = True
            costs = [self.cost(first, before, times, move, True) for before, times, move in walked]
            states = [(before, times) for before, times, _ in walked]
            states.append((walked[-1][2].dose.daily_mg, walked[-1][2].dose.doses_per_day) if walked
                          else (current, per_day))
            # a switch after a step beyond the pace that another product could have kept never wins: switching at
            # that step keeps the pace there, and what is left of the plan has no change open to judge
            open_until = next((k for k, cost in enumerate(costs) if cost[0]), None) if prune else None
            prefix = _ZERO
            for k in range(len(walked) + 1 if open_until is None else open_until + 1):
                candidates: list[tuple[_Cost, int, tuple[_Move, ...]]] = []
                if k == len(walked) and complete and open_until is None:
                    # no step at all from a product not yet chosen only when any product may stop here
                    if walked or current <= self.planner.final_step_mg(product if in_use is not None else None):
                        candidates.append((prefix, 1, tuple(move for _, _, move in walked)))
                elif k > 0:  # a switch before the first step is starting with the other product
                    before, times = states[k]
                    for other in self.next_products(first):
                        found = self.suffix(other, before, times)
                        if found is None or not found[1]:
                            continue
                        tail_cost, tail = found
                        candidates.append((_add(prefix, tail_cost), 2, (*(m for _, _, m in walked[:k]), *tail)))
                for cost, products, moves in candidates:
                    rank += 1
                    cost = _add(cost, (0, 0, 0, self.stop_excess(moves[-1].dose.daily_mg if moves else current),
                                       0, 0, 0, 0))
                    key = (*cost[:7], products, cost[7], rank)
                    if best is None or key < best[0]:
                        best = (key, moves)
                if k < len(walked):
                    prefix = _add(prefix, costs[k])
        if best is None and prune:  # the product that could have kept the pace cannot finish the plan
            return self.best(current, per_day, product, starts, prune=False)
        return best[1] if best is not None else ()


@lru_cache(maxsize=512)
def _best_moves(planner: Planner, current: Fraction, per_day: int, product: Product | None, percent_: Fraction,
                starts: tuple[DoseForm, ...] | None) -> tuple[_Search, tuple[_Move, ...]]:
    """Searched once per situation: a one-click step and the page of the same patient share it."""
    search = _Search(planner, percent_)
    return search, search.best(current, per_day, product, starts)


def best_steps(planner: Planner, current: Fraction, per_day: int, product: Product | None, percent_: Fraction,
               interval: int = 1, start: date = date(2000, 1, 1), first_day: int = 0,
               starts: tuple[DoseForm, ...] | None = None) -> list[TaperPlanStep]:
    """The reductions a patient can follow from ``current`` to the final stop (docs/clinical-reference.md §12):

    1. at most one change of product and never back to a product left: the plan starts with the product in use
       (``product``: a dose change keeps it) when that product can make the first step within the pace; else
       the first product is free (the first step is a new prescription) and a plan that leaves the product in
       use never comes back to it;
    2. each product makes the largest step within the pace it can, so no step is below half the pace when a
       larger one within the pace exists with the same product;
    3. then the pace: a step beyond it only where no product the plan may still use keeps it, the smallest
       excess over the pace, the fewest steps below half of it, tablets and capsules before a liquid.

    A step beyond the pace says why: no marketed form can make it, or the product that could is one the plan
    has left."""
    in_use = planner.form_of(product)
    search, moves = None, ()  # type: tuple[_Search | None, tuple[_Move, ...]]
    if starts is None and in_use is not None and in_use.ingredient == planner.ingredient:
        search, moves = _best_moves(planner, current, per_day, product, percent_, (in_use,))
        if not moves or not moves[0].within:
            search = None
    if search is None:
        search, moves = _best_moves(planner, current, per_day, product, percent_, starts)
    steps: list[TaperPlanStep] = []
    day = first_day
    used: list[str] = [product.code] if product is not None and product.code else []
    for move in moves:
        day += interval
        reason = None
        code = move.dose.product.code or ""
        if not used or used[-1] != code:
            used.append(code)
        if not move.within:
            form = planner.form_of(move.dose.product)
            assert form is not None
            others = search.others_within(form, current, per_day)
            if others:
                other = min(others, key=lambda dose: dose.daily_mg)
                reason = (f"{other.product.display} could give {mg(other.daily_mg)}/day, within the pace, but the "
                          f"plan keeps {move.dose.product.display}: it changes product at most once, never back "
                          "to a product it left, and from a liquid never back to tablets or capsules")
            else:
                reason = (f"no marketed {planner.ingredient} form gives a dose between "
                          f"{mg(current * (1 - percent_ / 100))} and {mg(current)}/day; the smallest amounts are "
                          f"{planner.limits_text()}")
        steps.append(TaperPlanStep(day, start + timedelta(days=day), move.dose, move.percent, reason is not None,
                                   reason))
        current, per_day = move.dose.daily_mg, move.dose.doses_per_day
    day += interval
    steps.append(TaperPlanStep(day, start + timedelta(days=day), None, Fraction(100)))
    return steps


def _steps(planner: Planner, current: Fraction, per_day: int, product: Product | None, percent_: Fraction,
           interval: int, start: date, first_day: int) -> tuple[list[TaperPlanStep], Fraction]:
    steps = best_steps(planner, current, per_day, product, percent_, interval, start, first_day)
    last = [step.dose.product for step in steps if step.dose is not None]
    return steps, planner.final_step_mg(last[-1] if last else product)


def taper_plan(current_daily_mg: Fraction, start: date, profile: TaperProfile, terminology: Terminology, *,
               ingredient: str = "diazepam", doses_per_day: int = 2, long_term: bool = False,
               older_adult: bool = False, table: EquivalenceTable = "ashton", product: Product | None = None,
               forms: DoseForms | None = None) -> TaperPlan:
    """The native-drug schedule from ``current_daily_mg`` to the final stop (see the module docstring).

    ``doses_per_day``: the patient's current regimen; ``product``: the product in use, kept while it can make
    the steps (the drug's first listed form when not known)."""
    planner = Planner(ingredient, terminology, forms or load_dose_forms(), table)
    percent_, interval = plan_pace(profile, long_term=long_term, older_adult=older_adult)
    steps, final = _steps(planner, current_daily_mg, doses_per_day, product, percent_, interval, start, 0)
    return TaperPlan(ingredient, start, current_daily_mg, percent_, interval, tuple(steps), final,
                     _stop_de(planner, steps, current_daily_mg))


def diazepam_switch_plan(current_daily_mg: Fraction, start: date, profile: TaperProfile, terminology: Terminology,
                         *, ingredient: str, doses_per_day: int = 2, long_term: bool = False,
                         older_adult: bool = False, table: EquivalenceTable = "ashton",
                         product: Product | None = None, forms: DoseForms | None = None) -> TaperPlan | None:
    """Switch to a comparable diazepam dose (configured table) in two stages a week apart — half the dose first
    where a half can be given — then diazepam steps at the same pace. ``None`` for diazepam itself or a drug
    without an equivalence under ``table``."""
    forms = forms or load_dose_forms()
    native = Planner(ingredient, terminology, forms, table)
    diazepam = Planner("diazepam", terminology, forms, table)
    factor = native.de(Fraction(1))
    if ingredient == "diazepam" or factor is None:
        return None
    percent_, interval = plan_pace(profile, long_term=long_term, older_adult=older_adult)
    per_day = min(doses_per_day, 2)  # diazepam's long half-life: one or two doses a day suffice
    full = diazepam.nearest_dose(current_daily_mg * factor, per_day)
    if full is None:
        return None
    # the diazepam product the taper starts with gives the switch stages too: one product fewer to keep
    starts = tuple(form for form in forms.forms("diazepam")
                   if distribute(form, diazepam.product(form), full.daily_mg, per_day) is not None)
    first_day = SWITCH_STAGE_DAYS
    steps = best_steps(diazepam, full.daily_mg, per_day, None, percent_, interval, start, first_day, starts)
    in_taper = diazepam.form_of(steps[0].dose.product) if steps[0].dose is not None else None
    if in_taper is not None:
        full = distribute(in_taper, diazepam.product(in_taper), full.daily_mg, per_day) or full
    stages: list[TaperPlanStep] = []
    in_use = native.form_of(product)
    half = None
    for form in ([in_use] if in_use is not None and in_use.ingredient == ingredient else []) + list(
            native.forms.forms(ingredient)):
        half = native.within_pace(form, current_daily_mg, Fraction(50), doses_per_day)
        if half is not None:
            break
    if half is not None:
        target = (current_daily_mg - half.daily_mg) * factor
        first = (diazepam.nearest_in(in_taper, target, per_day) if in_taper is not None else None) \
            or diazepam.nearest_dose(target, per_day)
        if first is not None:
            stages.append(TaperPlanStep(0, start, first, _percent(native, current_daily_mg, half.daily_mg,
                                                                  first.daily_mg), extra=half))
    day = SWITCH_STAGE_DAYS if stages else 0
    if not stages:
        steps = [replace(step, day=step.day - SWITCH_STAGE_DAYS, start=step.start - timedelta(SWITCH_STAGE_DAYS))
                 for step in steps]
    stages.append(TaperPlanStep(day, start + timedelta(days=day), full,
                                _percent(native, current_daily_mg, Fraction(0), full.daily_mg)))
    last = [step.dose.product for step in steps if step.dose is not None]
    final = diazepam.final_step_mg(last[-1] if last else full.product)
    return TaperPlan("diazepam", start, current_daily_mg, percent_, interval, tuple(steps), final,
                     _stop_de(diazepam, steps, full.daily_mg),
                     switched_from=ingredient, switch_stages=tuple(stages))


def _stop_de(planner: Planner, steps: list[TaperPlanStep], start_mg: Fraction) -> Fraction | None:
    doses = [step.daily_mg for step in steps if step.dose is not None]
    known = [de for table in TABLES if (de := planner.de(doses[-1] if doses else start_mg, table)) is not None]
    return min(known, default=None)


def _percent(native: Planner, start_mg: Fraction, native_mg: Fraction, diazepam_mg: Fraction) -> Fraction:
    """Reduction of the total diazepam-equivalent (configured table) at a switch stage."""
    before = native.de(start_mg) or Fraction(1)
    return (before - (native.de(native_mg) or 0) - diazepam_mg) / before * 100


def switch_recommended(native: TaperPlan, switch: TaperPlan | None) -> bool:
    """The diazepam switch is recommended when the native drug cannot keep the pace, or can stop only from
    above 2 mg diazepam-equivalent under both tables, and the switch plan does better."""
    if switch is None:
        return False
    return len(switch.beyond_pace) < len(native.beyond_pace) or (
        not switch.beyond_pace and native.stop_de is not None and native.stop_de > FINAL_DOSE_DE)
