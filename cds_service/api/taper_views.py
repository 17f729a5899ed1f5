"""What the taper-plan page and the patient handout show, built from a plan: rows a prescriber reads at a glance
and lines a patient reads (docs/clinical-reference.md §12).

Diazepam-equivalents come from the one shared computation (``clinical/equivalence.py``): a table without a factor
for a drug says so, it never counts as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from cds_service.clinical.dose_forms import load_dose_forms
from cds_service.clinical.equivalence import TABLE_NAMES, TABLES, DiazepamEquivalent, diazepam_equivalent
from cds_service.clinical.model import EquivalenceTable, Product
from cds_service.clinical.taper_plan import PlannedDose, TaperPlan, TaperPlanStep
from cds_service.clinical.terminology import Terminology
from cds_service.clinical.wording import change, mg, number

TIMES = ("MORN", "NOON", "EVE", "HS", "")
TIME_WORDS = {"MORN": "In the morning", "NOON": "At midday", "EVE": "In the evening", "HS": "At bedtime",
              "": "Once a day"}
SHORT_TIMES = {"MORN": "morning", "NOON": "midday", "EVE": "evening", "HS": "bedtime", "": "once a day"}
PLAIN_SYMPTOMS = ("trouble sleeping, feeling anxious or on edge, shaking hands, sweating, a racing or pounding "
                  "heart, headaches, feeling sick, aching or twitching muscles, being upset by light or noise, "
                  "or feeling that things are not real")
"""The withdrawal symptoms of the cards (taper-support) in the words of a patient leaflet."""


def long_date(day: date) -> str:
    """``Monday, March 16, 2026``: written out, never ``2026-03-16`` on a page a patient reads."""
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def short_date(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def plain_product(product: Product, count: Fraction | None = None) -> str:
    """A product in a patient's words, with an amount: "1½ lorazepam 0.5 mg tablets", "0.4 mL of lorazepam
    liquid (2 mg in each mL)", "1 clonazepam 0.125 mg tablet that melts in the mouth"."""
    form = load_dose_forms().by_code(product.code)
    kind = form.kind if form is not None else ("liquid" if product.unit == "mL" else "tablet")
    strength = number(product.strength_mg or 0)
    if kind == "liquid":
        name = f"{product.ingredient} liquid ({strength} mg in each mL)"
        return name if count is None else f"{number(count)} mL of {name}"
    several = count is None or count > 1
    noun = {"capsule": "capsule", "odt": "tablet", "tablet": "tablet"}[kind] + ("s" if several else "")
    melts = (" that melt in the mouth" if several else " that melts in the mouth") if kind == "odt" else ""
    name = f"{product.ingredient} {strength} mg {noun}{melts}"
    if count is None:
        return name
    whole, half = divmod(count, 1)
    amount = (str(int(whole)) if whole else "") + ("½" if half else "")
    return f"{amount} {name}"


def _doses(step: TaperPlanStep) -> list[PlannedDose]:
    return [dose for dose in (step.dose, step.extra) if dose is not None]


def step_de(step: TaperPlanStep, terminology: Terminology, table: EquivalenceTable) -> DiazepamEquivalent:
    return diazepam_equivalent(terminology, [(d.product.ingredient, d.daily_mg) for d in _doses(step)], table)


def _change_text(before: list[DiazepamEquivalent], after: list[DiazepamEquivalent]) -> list[str]:
    """The change of the total under each table; one figure when the tables agree (one drug), both, one a line,
    when they differ (a switch stage) — never "0 %" where one table rises."""
    changes: list[Fraction | None] = []
    for old, new in zip(before, after, strict=True):
        if old.mg is None or new.mg is None or old.mg == 0:
            changes.append(None)
        else:
            changes.append((old.mg - new.mg) / old.mg * 100)
    known = [c for c in changes if c is not None]
    if known and all(c == known[0] for c in known):
        return ["stop" if known[0] == 100 else change(known[0])]
    return [f"{TABLE_NAMES[t]} {change(c) if c is not None else 'not computable'}"
            for t, c in zip(TABLES, changes, strict=True)]


def _figure(de: DiazepamEquivalent) -> str:
    """A table cell under "DE (mg)": the number, or which factor the table lacks."""
    return number(de.mg) if de.mg is not None else de.text


@dataclass(frozen=True)
class Row:
    kind: str
    """``today``, ``run`` (the product of the steps below), ``step``."""
    cells: dict[str, Any]


def _each_dose(dose: PlannedDose, named: bool) -> str:
    """"morning 2 · midday 1½ · bedtime 2" in the units of the run's product (named above the run)."""
    parts = []
    for administration in dose.administrations:
        units = administration.units
        amount = f"{number(units)} mL" if dose.product.unit == "mL" else (
            (str(int(units // 1)) if units >= 1 else "") + ("½" if units % 1 else ""))
        parts.append(f"{SHORT_TIMES[administration.when]} {amount}")
    text = " · ".join(parts)
    return f"{dose.product.ingredient}: {text}" if named else text


def _run_label(doses: list[PlannedDose]) -> str:
    units = {"mL": "amounts in mL", "capsule": "amounts in capsules"}
    if len(doses) > 1:
        return "Switch stage: " + " with ".join(d.product.display for d in doses)
    product = doses[0].product
    return f"{product.display} ({units.get(product.unit, 'amounts in tablets')})"


def plan_rows(plan: TaperPlan, start_mg: Fraction, native: str, terminology: Terminology
              ) -> tuple[list[Row], list[str]]:
    """The rows of a plan's table and the footnotes of its steps beyond the pace (each reason once)."""
    today = [diazepam_equivalent(terminology, [(native, start_mg)], t) for t in TABLES]
    rows = [Row("today", {"day": "Today", "date": short_date(plan.start), "daily": [f"{mg(start_mg)} {native}"],
                          "each": ["the current dose"], "de": [_figure(de) for de in today], "change": ["—"],
                          "note": ""})]
    notes: list[str] = []
    previous = today
    run: tuple[str, ...] | None = None
    for step in (*plan.switch_stages, *plan.steps):
        doses = _doses(step)
        if doses and tuple(d.product.code or "" for d in doses) != run:
            run = tuple(d.product.code or "" for d in doses)
            rows.append(Row("run", {"label": _run_label(doses)}))
        after = [step_de(step, terminology, t) for t in TABLES]
        note = ""
        if step.reason:
            if step.reason not in notes:
                notes.append(step.reason)
            note = str(notes.index(step.reason) + 1)
        daily = [f"{'+ ' if i else ''}{mg(d.daily_mg)} {d.product.ingredient}" for i, d in enumerate(doses)] \
            or ["0 mg (stop)"]
        rows.append(Row("step", {
            "day": step.day, "date": short_date(step.start), "daily": daily,
            "each": [_each_dose(d, len(doses) > 1) for d in doses] if doses else [f"stop {plan.ingredient}"],
            "de": [_figure(de) for de in after], "change": _change_text(previous, after), "note": note,
            "beyond": step.exceeds_pace}))
        previous = after
    return rows, notes


@dataclass(frozen=True)
class HandoutLine:
    start: str
    take: list[tuple[str, str]]
    """(time of day, what to take then) — one block per time of day."""
    total: str


def handout_lines(plan: TaperPlan, start_mg: Fraction, native: str) -> list[HandoutLine]:
    """From today to the stop, in a patient's words: each date written out, each drug named on every line."""
    steps = (*plan.switch_stages, *plan.steps)
    starts_today = bool(steps) and steps[0].start == plan.start
    now = (f"Your usual {native} dose until now: {mg(start_mg)} of {native} a day. The first change is today: "
           "take what the next line says from today on." if starts_today else
           f"Keep taking your usual {native} dose: {mg(start_mg)} of {native} a day, as you do now.")
    lines = [HandoutLine(f"Today, {long_date(plan.start)}", [("", now)], f"{mg(start_mg)} of {native}")]
    for step in steps:
        doses = _doses(step)
        if not doses:
            taken = [_doses(s) for s in steps if _doses(s)]
            drugs = " and ".join(dict.fromkeys(d.product.ingredient for d in taken[-1])) if taken else native
            lines.append(HandoutLine(long_date(step.start), [("", f"Stop: take no more {drugs}.")], "none"))
            continue
        blocks: dict[str, list[str]] = {}
        for dose in doses:
            for administration in dose.administrations:
                blocks.setdefault(administration.when, []).append(plain_product(dose.product, administration.units))
        take = [(TIME_WORDS[when], " and ".join(blocks[when])) for when in TIMES if when in blocks]
        total = " and ".join(f"{mg(d.daily_mg)} of {d.product.ingredient}" for d in doses)
        lines.append(HandoutLine(long_date(step.start), take, total))
    return lines


@dataclass(frozen=True)
class Supply:
    product: str
    first: str
    last: str
    amount: str


def supplies(plan: TaperPlan) -> list[Supply]:
    """Each product the plan uses, the dates it is taken and how much of it the whole plan takes (half tablets
    rounded up to whole ones): what to keep at home."""
    steps = [*plan.switch_stages, *plan.steps]
    used: dict[str, dict[str, Any]] = {}
    for index, step in enumerate(steps):
        if step.dose is None:
            continue
        end = steps[index + 1].start if index + 1 < len(steps) else step.start
        days = max((end - step.start).days, 0)
        for dose in _doses(step):
            entry = used.setdefault(dose.product.code or dose.product.display, {
                "product": dose.product, "first": step.start, "last": step.start, "units": Fraction(0)})
            entry["last"] = max(entry["last"], end - timedelta(days=1) if days else end)  # the day before the next
            entry["units"] += sum((a.units for a in dose.administrations), Fraction(0)) * days
    result = []
    for entry in used.values():
        product: Product = entry["product"]
        units: Fraction = entry["units"]
        amount = (f"{number(units)} mL" if product.unit == "mL"
                  else f"{math.ceil(units)} {'capsules' if product.unit == 'capsule' else 'tablets'}")
        result.append(Supply(plain_product(product), long_date(entry["first"]), long_date(entry["last"]), amount))
    return result
