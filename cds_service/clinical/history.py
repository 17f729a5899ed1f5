"""Benzodiazepine history: total diazepam-equivalent over time, dose-change steps, and the proposed step.

Implements docs/clinical-reference.md §6b ("Current DE", "Proposed DE", "Step reduction %", "Step interval",
"Taper context", "Exposure episode") and §8c, §7a: every check uses the patient's *total*
diazepam-equivalent (DE) across all benzodiazepines, after all draft orders of the call are applied.

De-duplication: for each ingredient on each day, orders are the authority; fills count only where no
order covers that day, and patient statements only where neither does. Several orders of one ingredient
all count unless a later one ends an earlier one (§7a: it names it, comes from the same requester, or starts
after the earlier one's supply ran out).

Cost: the timeline is one sweep over the courses' start and end days (O(n log n)); nothing here compares every
course with every other. Z-drugs and rescue or
injectable products are not part of the taper total (docs/clinical-reference.md §1b, §6b "Benzodiazepine order set").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from math import lcm
from typing import NamedTuple

from cds_service.clinical.dosing import DailyDose, DoseResult, UnknownDose, percent_reduction
from cds_service.clinical.equivalence import diazepam_equivalent
from cds_service.clinical.medications import MedicationCourse, MedicationCourses
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.profiles import shared_thresholds
from cds_service.clinical.terminology import Terminology

_DEFINED = shared_thresholds()  # every threshold below: profiles.json "every_profile", with its source
TAPER_CONTEXT_DAYS = _DEFINED.taper_context_days
"""A reduction within this many days puts the patient in a taper (docs/clinical-reference.md §6b "Taper context")."""
LONG_TERM_DAYS = _DEFINED.long_term_days
LONG_TERM_COVERAGE = _DEFINED.long_term_coverage
"""Long-term use: episode ≥ 1 year and covered on ≥ 80 % of the last 365 days (docs/clinical-reference.md §6b)."""
DEPENDENCE_ANY_DOSE_DAYS = _DEFINED.dependence_any_dose_days
DEPENDENCE_DE_DAYS = _DEFINED.dependence_de_days
DEPENDENCE_DE_MG = _DEFINED.dependence_de_mg
"""Likely physically dependent: ≥ 3 months at any dose, or ≥ 1 month above 10 mg DE (Joint Guideline Table 2)."""
FAILED_TAPER_RETURN_DAYS = _DEFINED.failed_taper_return_days
FAILED_TAPER_RETURN_LEVEL = _DEFINED.failed_taper_return_level
"""Prior unsuccessful taper: back to ≥ 90 % of the pre-taper level within 90 days (docs/clinical-reference.md §6b
heuristic)."""
EPISODE_GAP_DAYS = _DEFINED.episode_gap_days
"""Coverage gaps up to this long do not end an exposure episode (CDC "collapse" pattern, §6b)."""
AS_NEEDED_LOOKBACK_DAYS = _DEFINED.as_needed_lookback_days
AS_NEEDED_MIN_DAYS = _DEFINED.as_needed_min_days
AS_NEEDED_DEPENDENT_DAYS_PER_WEEK = _DEFINED.as_needed_dependent_days_per_week
"""As-needed use: days of use a week from the fills of the last 90 and 180 days (each window from a fill at least
four weeks old; the larger rate), else over the fills' days supply; at most 3 days a week is not "likely
dependent" (2025 Joint Guideline Table 2: ≥ 4 days a week)."""
_KIND_RANK = {"order": 0, "draft": 0, "dispense": 1, "statement": 2}
"""Which evidence of an ingredient counts on a day: orders, else fills, else statements."""

DeOf = Callable[[MedicationCourse], Fraction | None]
"""A course's daily diazepam-equivalent (:func:`course_de`): it depends on the course's dose and ingredient only."""


class DoseStep(NamedTuple):
    """A change of the total daily diazepam-equivalent, effective from ``day``. (A named tuple, as
    :class:`~cds_service.clinical.medications.MedicationCourse` is: a long history has thousands.)"""

    day: date
    previous_de: Fraction
    new_de: Fraction

    @property
    def percent_reduction(self) -> Fraction:
        """(DE_prev − DE_new) / DE_prev × 100 (docs/clinical-reference.md §6b "Step reduction %"); negative for an
        increase."""
        return percent_reduction(self.previous_de, self.new_de)

    @property
    def is_reduction(self) -> bool:
        return self.new_de < self.previous_de


@dataclass(frozen=True)
class DrugDose:
    """One benzodiazepine's total daily dose on a day, in mg of the drug itself (docs/clinical-reference.md
    §6f), and in mL when all of it is an oral liquid."""

    ingredient: str
    mg: Fraction
    ml: Fraction | None = None


@dataclass(frozen=True)
class BenzodiazepineHistory:
    at: date
    timeline: tuple[tuple[date, Fraction | None], ...]
    """Days on which the total DE changed, with the new total (``None`` where a dose was unknown)."""
    steps: tuple[DoseStep, ...]
    """Past changes of the total DE within the current exposure episode, oldest first."""
    all_steps: tuple[DoseStep, ...]
    """Every past change of the total DE in the record, across episodes."""
    episode_start: date | None
    current_de: Fraction | None
    """Total DE at t before this call's drafts; ``None`` if a dose could not be computed."""
    proposed_de: Fraction | None
    """Total DE at t after all drafts of this call are applied."""
    unknown_doses: tuple[str, ...]
    """Courses whose dose could not be computed, named for the card with the reason ("<label>: <reason>")."""
    current_ingredients: frozenset[str] = frozenset()
    proposed_ingredients: frozenset[str] = frozenset()
    as_needed_days_per_week: Fraction | None = None
    """Days of use a week of a patient whose benzodiazepines are all as needed, from the fills (§7f)."""
    current_doses: tuple[DrugDose, ...] = ()
    """Each benzodiazepine's daily dose at t before this call's drafts (the courses the total counts)."""
    proposed_doses: tuple[DrugDose, ...] = ()
    """Each benzodiazepine's daily dose at t after the drafts (a drug stopped is absent)."""

    def de_on(self, day: date) -> Fraction | None:
        """Total DE on ``day`` from the timeline (0 before the first record)."""
        index = bisect_right(self.timeline, day, key=lambda entry: entry[0])
        return self.timeline[index - 1][1] if index else Fraction(0)

    @property
    def is_switch(self) -> bool:
        """The drafts start a benzodiazepine the patient was not taking while another is taken (a conversion
        or cross-taper); stopping one of two is not a switch."""
        return bool(self.current_ingredients) and bool(self.proposed_ingredients - self.current_ingredients)

    @property
    def last_change(self) -> DoseStep | None:
        return self.steps[-1] if self.steps else None

    @property
    def interval_days(self) -> int | None:
        """Days from the previous dose change to t; ``None`` (∞) when there was none in this episode."""
        last = self.last_change
        return (self.at - last.day).days if last is not None else None

    def window_reduction_percent(self, days: int) -> Fraction | None:
        """Total reduction within the trailing window ending with the proposed step:
        (1 − DE_new / DE_at_window_start) × 100 (docs/clinical-reference.md §8b: limits are windows, not averages)."""
        if self.proposed_de is None:
            return None
        start = self.de_on(self.at - timedelta(days=days))
        if not start:
            start = self.current_de
        if not start:
            return None
        return (1 - self.proposed_de / start) * 100

    @property
    def episode_days(self) -> int:
        return (self.at - self.episode_start).days if self.episode_start is not None else 0

    @property
    def covered_days_last_year(self) -> int:
        """Days of the last 365 with a benzodiazepine (unknown doses count as covered)."""
        since = self.at - timedelta(days=LONG_TERM_DAYS)
        covered = 0
        for index, (changed_on, total) in enumerate(self.timeline):
            until = self.timeline[index + 1][0] if index + 1 < len(self.timeline) else self.at
            begin, end = max(changed_on, since), min(until, self.at)
            if total != 0 and end > begin:
                covered += (end - begin).days
        return covered

    @property
    def is_long_term(self) -> bool:
        """> 1 year: episode began ≥ 365 days ago and PDC ≥ 80 % over the last year (docs/clinical-reference.md §6b)."""
        return self.episode_days >= LONG_TERM_DAYS and \
            self.covered_days_last_year >= LONG_TERM_COVERAGE * LONG_TERM_DAYS

    @property
    def likely_dependent(self) -> bool:
        """Joint Guideline Table 2: ≥ 3 months at any dose, or ≥ 1 month above 10 mg DE — taken at least 4 days a
        week: as-needed use of at most 3 days a week (from the fills) is not likely dependent (§7f)."""
        weekly = self.as_needed_days_per_week
        if weekly is not None and weekly <= AS_NEEDED_DEPENDENT_DAYS_PER_WEEK:
            return False
        if self.episode_days >= DEPENDENCE_ANY_DOSE_DAYS:
            return True
        return self.episode_days >= DEPENDENCE_DE_DAYS and (self.current_de or 0) > DEPENDENCE_DE_MG

    @property
    def prior_failed_taper(self) -> DoseStep | None:
        """An earlier reduction after which the total DE returned to ≥ 90 % of the pre-taper level within
        90 days (docs/clinical-reference.md §6b "Prior unsuccessful taper"); the first such reduction."""
        for step in self.all_steps:
            if not step.is_reduction:
                continue
            horizon = step.day + timedelta(days=FAILED_TAPER_RETURN_DAYS)
            first = bisect_right(self.timeline, step.day, key=lambda entry: entry[0])
            for changed_on, total in self.timeline[first:]:
                if changed_on > horizon:
                    break
                if total is not None and total >= FAILED_TAPER_RETURN_LEVEL * step.previous_de:
                    return step
        return None

    @property
    def proposed_step(self) -> DoseStep | None:
        if self.current_de is None or self.proposed_de is None or self.current_de == self.proposed_de:
            return None
        return DoseStep(self.at, self.current_de, self.proposed_de)

    @property
    def recent_reduction(self) -> DoseStep | None:
        """The latest reduction within the last 90 days, if any."""
        since = self.at - timedelta(days=TAPER_CONTEXT_DAYS)
        for step in reversed(self.steps):  # newest first, and no further back than the window
            if step.day <= since:
                return None
            if step.day <= self.at and step.is_reduction:
                return step
        return None

    @property
    def in_taper_context(self) -> bool:
        """DE decreased at least once in the last 90 days, or the drafts decrease it (docs/clinical-reference.md
        §6b)."""
        step = self.proposed_step
        return self.recent_reduction is not None or (step is not None and step.is_reduction)

    @property
    def taper_start(self) -> date | None:
        """The first reduction of the current episode (the proposed step if there is none before it)."""
        for step in self.steps:
            if step.is_reduction:
                return step.day
        proposed = self.proposed_step
        return proposed.day if proposed is not None and proposed.is_reduction else None


def course_de(course: MedicationCourse, terminology: Terminology, table: EquivalenceTable) -> Fraction | None:
    """Daily DE of one course under ``table`` (docs/clinical-reference.md §6b "DE of an order")."""
    if not isinstance(course.dose, DailyDose):
        return None
    return diazepam_equivalent(terminology, [(course.product.ingredient, course.dose.mg)], table).mg


def counts_toward_taper(course: MedicationCourse) -> bool:
    return course.product.drug_class == "benzodiazepine" and course.product.in_taper_math and not course.inpatient


def benzodiazepine_history(courses: MedicationCourses, at: datetime, de_of: DeOf) -> BenzodiazepineHistory:
    today = at.date()
    de_of = _once_per_dose(de_of)
    existing = _with_superseded_orders_ended([c for c in courses.existing if counts_toward_taper(c)])
    drafts = [c for c in courses.drafts if counts_toward_taper(c)]
    timeline = _timeline(existing, today, de_of)
    episode_start, all_steps = _episode_steps(timeline)
    # the current episode's steps are the same objects: a long history holds each change once
    steps = [step for step in all_steps if episode_start is not None and step.day > episode_start]
    # what covers t, found once: the totals, drugs and doses of t below each read only these
    current = [c for c in existing if c.covers(today)]
    proposed, touched = _apply_drafts(current, drafts, today)
    unknown = tuple(sorted({f"{c.label} ({_KIND_WORDS[c.kind]}): {_why_unknown(c)}" for c in [*current, *drafts]
                            if c.covers(today) and de_of(c) is None and not c.ends_order}))
    return BenzodiazepineHistory(
        at=today,
        timeline=tuple(timeline),
        steps=tuple(steps),
        all_steps=tuple(all_steps),
        episode_start=episode_start,
        current_de=_total_de_on(today, current, de_of),
        proposed_de=_total_de_on(today, proposed, de_of, orders_only_for=touched),
        unknown_doses=unknown,
        current_ingredients=_ingredients_on(today, current, de_of),
        proposed_ingredients=_ingredients_on(today, proposed, de_of, orders_only_for=touched),
        as_needed_days_per_week=_as_needed_days_per_week(existing, today),
        current_doses=_doses_on(today, current),
        proposed_doses=_doses_on(today, proposed, orders_only_for=touched),
    )


_KIND_WORDS = {"draft": "new order", "order": "current order", "dispense": "dispensed", "statement": "reported"}
"""Which record a note names: cards name an order by its product only, so the kind tells a draft from the order
it changes."""


def _why_unknown(course: MedicationCourse) -> str:
    if isinstance(course.dose, UnknownDose):
        return course.dose.reason
    return f"no diazepam-equivalence factor for {course.product.ingredient}"


def _as_needed_days_per_week(existing: list[MedicationCourse], today: date) -> Fraction | None:
    """Units dispensed ÷ units per day of use ÷ weeks covered (§7f), for a patient whose current benzodiazepine
    orders are all as needed. A day of use is a day at the order's daily dose as written (for an as-needed order,
    the most it allows a day).

    The weeks run from the first fill of a window to t, over the last 90 days and over the last 180 — two refill
    intervals of a 90-day supply, so that a rare user whose last fill is recent is measured from the fill before
    it — and the larger of the two rates is used (use that has recently grown is not diluted). A window counts when
    its first fill is at least four weeks old. When no fill is that old, the fills are measured over the days
    supply they were dispensed for."""
    orders = [c for c in existing if c.kind == "order" and c.covers(today)]
    if not orders or not all(isinstance(c.dose, DailyDose) and c.dose.as_needed and c.dose.mg for c in orders):
        return None
    mg_a_day: dict[str, Fraction] = {}
    for order in orders:
        assert isinstance(order.dose, DailyDose)
        mg_a_day[order.product.ingredient] = mg_a_day.get(order.product.ingredient, Fraction(0)) + order.dose.mg
    fills = [c for c in existing if c.kind == "dispense" and c.product.ingredient in mg_a_day and c.start is not None
             and c.start <= today and c.quantity is not None and c.product.strength_mg is not None]

    def days_of_use(window: list[MedicationCourse]) -> Fraction:
        return sum((c.quantity * c.product.strength_mg / mg_a_day[c.product.ingredient]  # type: ignore[operator]
                    for c in window), Fraction(0))

    rates = []
    recent: list[MedicationCourse] = []
    for days in AS_NEEDED_LOOKBACK_DAYS:
        window = [c for c in fills if c.start is not None and c.start >= today - timedelta(days=days)]
        recent = recent or window
        first = min((c.start for c in window if c.start is not None), default=None)
        if first is not None and (today - first).days >= AS_NEEDED_MIN_DAYS:
            rates.append(days_of_use(window) / (Fraction((today - first).days) / 7))
    if not rates and recent:
        first = min(c.start for c in recent if c.start is not None)
        supplied = (max(c.end or today for c in recent) - first).days
        if supplied > 0:
            rates.append(days_of_use(recent) / (Fraction(supplied) / 7))
    return min(Fraction(7), max(rates)) if rates else None


def _once_per_dose(de_of: DeOf) -> DeOf:
    """``de_of`` computed once per dose reading and ingredient (a course's DE depends on nothing else, :data:`DeOf`):
    the timeline asks for every course on each day the total changes, and the orders of a long history share their
    dose readings (one :class:`~cds_service.clinical.dosing.DoseResult` object per distinct reading,
    dosing.DoseReader).

    The memo is keyed by the reading's identity, not its value: hashing a dose (a ``Fraction`` and its
    explanation) on every lookup made a 100-resource call measurably slower. Each entry keeps the reading it was
    computed for, so no identity is reused while the memo lives."""
    known: dict[tuple[int, str], tuple[DoseResult, Fraction | None]] = {}

    def once(course: MedicationCourse) -> Fraction | None:
        key = (id(course.dose), course.product.ingredient)
        if key not in known:
            known[key] = (course.dose, de_of(course))
        return known[key][1]

    return once


def _ingredients_on(day: date, courses: Iterable[MedicationCourse], de_of: DeOf,
                    orders_only_for: frozenset[str] = frozenset()) -> frozenset[str]:
    covering = [c for c in courses if c.covers(day) and de_of(c) != 0]
    with_orders = {c.product.ingredient for c in covering if c.kind in ("order", "draft")}
    others = {c.product.ingredient for c in covering if c.kind not in ("order", "draft")} - orders_only_for
    return frozenset(with_orders | others)


def ends_earlier_order(later: MedicationCourse, earlier: MedicationCourse, on: date) -> bool:
    """Whether ``later`` (starting ``on``) ends ``earlier``, an order of the same ingredient (§7a): it names it,
    comes from the same requester (an order that does not say who wrote it counts as the same prescriber's), or
    starts after the earlier one's supply ran out. Otherwise both count — e.g. a scheduled dose from one
    prescriber and an as-needed dose from another."""
    if earlier.resource_id is not None and later.replaces == earlier.resource_id:
        return True
    if later.replaces is not None and later.replaces != earlier.resource_id and later.kind == "draft":
        return False  # a draft that names another order changes that one only
    if later.requester is None or earlier.requester is None or later.requester == earlier.requester:
        return True
    return earlier.supply_end is not None and on >= earlier.supply_end


def _with_superseded_orders_ended(courses: list[MedicationCourse]) -> list[MedicationCourse]:
    """End each order where its successor begins (docs/service-contract.md §4b; docs/clinical-reference.md
    §7a, applied to history).

    An order named in a later order's ``priorPrescription`` was in effect until that order replaced it,
    even when its own status is stopped or completed. A later order of the same ingredient that ends it
    (:func:`ends_earlier_order`) ends it too, but never extends it. One pass over the orders sorted by start.

    Example: diazepam 15 mg/day from 2025-09-01 (``o1``, Dr A), 12 mg/day from 2026-03-02 naming ``o1`` in
    ``priorPrescription`` (``o2``, Dr A), and diazepam 5 mg as needed from 2026-01-01 (``o3``, Dr B, supply until
    2026-03-31): ``o1`` now ends on 2026-03-02; ``o2`` and ``o3`` stay open — ``o2`` neither names ``o3`` nor
    comes from Dr B, and ``o3``'s supply had not run out when ``o2`` began.
    """
    orders = sorted((c for c in courses if c.kind == "order" and c.start is not None and not c.settled),
                    key=_start_day)
    named: dict[str, date] = {}
    by_ingredient: dict[str, list[MedicationCourse]] = {}
    for order in orders:
        if order.replaces is not None:
            named.setdefault(order.replaces, _start_day(order))  # sorted: the first naming order
        by_ingredient.setdefault(order.product.ingredient, []).append(order)
    ended: dict[int, MedicationCourse] = {}
    for same_drug in by_ingredient.values():
        starts = [_start_day(order) for order in same_drug]
        for position, course in enumerate(same_drug):
            start = starts[position]
            replaced_on = named.get(course.resource_id) if course.resource_id is not None else None
            if replaced_on is not None and replaced_on >= start:
                ended[id(course)] = course.ending_on(replaced_on)
                continue
            # by position, not a slice of the rest: the first later order usually ends it, and a slice would copy
            # the rest of a long history for every order
            for later_position in range(bisect_right(starts, start, lo=position), len(same_drug)):
                later, day = same_drug[later_position], starts[later_position]
                if ends_earlier_order(later, course, day):
                    ended[id(course)] = course.ending_on(min(day, course.end) if course.end else day)
                    break
    return [ended.get(id(c), c) for c in courses]


def _authoritative(mine: list[MedicationCourse], ingredient: str, orders_only_for: frozenset[str]
                   ) -> list[MedicationCourse]:
    """The courses of one ingredient that count: its orders; else its fills, else statements (§7a)."""
    orders = [c for c in mine if c.kind in ("order", "draft")]
    if orders or ingredient in orders_only_for:
        return orders
    return [c for c in mine if c.kind == "dispense"] or [c for c in mine if c.kind == "statement"]


def _doses_on(day: date, courses: Iterable[MedicationCourse], orders_only_for: frozenset[str] = frozenset()
              ) -> tuple[DrugDose, ...]:
    """Each ingredient's daily mg (and mL, when all of it is an oral liquid) from the courses the total counts;
    an ingredient with a dose that cannot be read is left out."""
    covering = [c for c in courses if c.covers(day)]
    doses = []
    for ingredient in sorted({c.product.ingredient for c in covering}):
        counted = _authoritative([c for c in covering if c.product.ingredient == ingredient], ingredient,
                                 orders_only_for)
        if not counted or not all(isinstance(c.dose, DailyDose) for c in counted):
            continue
        daily = sum((c.dose.mg for c in counted if isinstance(c.dose, DailyDose)), Fraction(0))
        liquid = all(c.product.unit == "mL" and c.product.strength_mg for c in counted)
        ml = sum((c.dose.mg / c.product.strength_mg for c in counted
                  if isinstance(c.dose, DailyDose) and c.product.strength_mg), Fraction(0)) if liquid else None
        if daily:
            doses.append(DrugDose(ingredient, daily, ml))
    return tuple(doses)


def _total_de_on(
    day: date, courses: Iterable[MedicationCourse], de_of: DeOf, orders_only_for: frozenset[str] = frozenset()
) -> Fraction | None:
    covering = [c for c in courses if c.covers(day)]
    total = Fraction(0)
    for ingredient in {c.product.ingredient for c in covering}:
        mine = [c for c in covering if c.product.ingredient == ingredient]
        authoritative = [c for c in mine if c.kind in ("order", "draft")]
        if not authoritative and ingredient not in orders_only_for:
            authoritative = [c for c in mine if c.kind == "dispense"] or [c for c in mine if c.kind == "statement"]
        for course in authoritative:
            de = de_of(course)
            if de is None:
                return None
            total += de
    return total


@dataclass(slots=True)
class _Covering:
    """The courses of one ingredient and one kind of evidence (orders, fills or statements) that cover the day the
    timeline has reached."""

    courses: int = 0
    de: int = 0
    """The sum of their known daily DE, in units of 1/``scale`` mg (:func:`_timeline`)."""
    unknown: int = 0
    """How many of them have no known DE."""

    def add(self, de: int | None, sign: int) -> None:
        """A course starts (``sign`` 1) or ends (−1)."""
        self.courses += sign
        if de is None:
            self.unknown += sign
        else:
            self.de += sign * de


def _timeline(courses: list[MedicationCourse], today: date, de_of: DeOf) -> list[tuple[date, Fraction | None]]:
    """The total DE on each day it changes: one sweep over start and end days, keeping for each ingredient and
    kind of evidence what covers the day (:class:`_Covering`); each ingredient counts its orders, else its fills,
    else its statements (§7a), and one course with an unknown DE makes the total unknown.

    Example (Ashton: lorazepam 1 mg ≈ diazepam 10 mg): a diazepam order of 10 mg/day from 2026-01-01 (open), a
    diazepam fill of 5 mg/day from 2026-01-10 for 30 days, and a lorazepam order of 1 mg/day from 2026-02-01 ended
    on 2026-03-01 give ``[(2026-01-01, 10), (2026-02-01, 20), (2026-03-01, 10)]``: the fill changes nothing while
    the diazepam order covers its days, and a day whose total is unchanged adds no entry.

    The sums are kept as whole numbers of 1/``scale`` mg, ``scale`` being the least common multiple of the DEs'
    denominators: exact as the fractions are, and a long history's thousands of additions are integer ones
    (a ``Fraction`` addition normalises by a gcd each time)."""
    # two sorted lists of the courses themselves, not an event object per start and end: a long history would
    # otherwise keep thousands of short-lived objects for the garbage collector to walk
    starting = sorted((c for c in courses if c.start is not None and c.start <= today), key=_start_day)
    ending = sorted((c for c in courses if c.end is not None and c.end <= today
                     and (c.start is None or c.start < c.end)), key=_end_day)
    des = [de_of(course) for course in courses]
    scale = lcm(*{de.denominator for de in des if de is not None})
    covering: dict[str, tuple[_Covering, _Covering, _Covering]] = {}
    """ingredient → what covers the day, by kind of evidence: orders, fills, statements (:data:`_KIND_RANK`)"""
    counted_in: dict[int, tuple[_Covering, int | None]] = {}
    """id of each course → where it counts, and its DE in 1/``scale`` mg: looked up once, not on each event"""
    for course, de in zip(courses, des, strict=True):
        kinds = covering.get(course.product.ingredient)
        if kinds is None:
            kinds = covering[course.product.ingredient] = (_Covering(), _Covering(), _Covering())
        counted_in[id(course)] = (kinds[_KIND_RANK[course.kind]],
                                  None if de is None else de.numerator * (scale // de.denominator))

    def add(course: MedicationCourse, sign: int) -> None:
        where, de = counted_in[id(course)]
        where.add(de, sign)

    for course in courses:
        if course.start is None:
            add(course, 1)
    timeline: list[tuple[date, Fraction | None]] = []
    as_fraction: dict[int, Fraction] = {}
    last: int | None = -1  # no entry yet (totals are never negative)
    started = ended = 0
    # the sums are exact, so the order of the changes within a day does not matter
    for day in sorted({_start_day(c) for c in starting} | {_end_day(c) for c in ending}):
        while started < len(starting) and starting[started].start == day:
            add(starting[started], 1)
            started += 1
        while ended < len(ending) and ending[ended].end == day:
            add(ending[ended], -1)
            ended += 1
        total: int | None = 0
        for kinds in covering.values():
            for counted in kinds:  # orders, else fills, else statements
                if counted.courses:
                    if counted.unknown or total is None:
                        total = None
                    else:
                        total += counted.de
                    break
        if total != last:
            if total is not None and total not in as_fraction:  # a long history returns to the same totals
                as_fraction[total] = Fraction(total, scale)
            timeline.append((day, None if total is None else as_fraction[total]))
            last = total
    return timeline


def _start_day(course: MedicationCourse) -> date:
    return course.start or date.min


def _end_day(course: MedicationCourse) -> date:
    return course.end or date.max


def _episode_steps(timeline: list[tuple[date, Fraction | None]]) -> tuple[date | None, list[DoseStep]]:
    """The start of the current exposure episode (a gap of more than 30 days at zero starts a new one) and every
    dose change in the record; the changes of the current episode are those after its start day."""
    episode_start: date | None = None
    steps: list[DoseStep] = []
    previous_day: date | None = None
    previous_total: Fraction | None = None
    previous_zero = False
    for day, total in timeline:
        # each total is tested against zero once: a long history has thousands, and Fraction tests are Python calls
        zero = total is not None and not total
        restarted = previous_zero and previous_day is not None and (day - previous_day).days > EPISODE_GAP_DAYS
        # an unknown total is still a day of use: it starts an episode as a known one does
        if not zero and (episode_start is None or restarted):
            episode_start = day
        elif episode_start is not None and previous_total is not None and not previous_zero and total is not None:
            # a change, without comparing the totals: the timeline has an entry only where the total changes
            steps.append(DoseStep(day, previous_total, total))
        previous_day, previous_total, previous_zero = day, total, zero
    return episode_start, steps


def replaced_by_draft(draft: MedicationCourse, course: MedicationCourse, today: date) -> bool:
    """Whether a draft of this call replaces or ends ``course``, an order of the record (docs/service-contract.md
    §4b; docs/clinical-reference.md §7a): it names it, or — naming none — it is of the same ingredient and ends it
    (:func:`ends_earlier_order`)."""
    if course.kind != "order":
        return False
    if draft.continues is not None:  # a later phase of a draft replaces the phase before it, nothing else
        return course is draft.continues
    if course.resource_id is not None and course.resource_id in (draft.replaces, draft.resource_id):
        return True
    return (draft.replaces is None and not draft.ends_order and course.product.ingredient == draft.product.ingredient
            and course.covers(today) and ends_earlier_order(draft, course, today))


def _apply_drafts(
    current: list[MedicationCourse], drafts: list[MedicationCourse], today: date
) -> tuple[list[MedicationCourse], frozenset[str]]:
    """The courses covering t after all drafts (docs/service-contract.md §4b), and the ingredients drafts touched;
    ``current``: the courses covering t before them."""
    kept = [course for course in current if not any(replaced_by_draft(draft, course, today) for draft in drafts)]
    added = [draft._replace(start=today, end=None) for draft in drafts if not draft.ends_order]
    return kept + added, frozenset(d.product.ingredient for d in drafts)
