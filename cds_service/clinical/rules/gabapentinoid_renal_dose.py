"""Card ``gabapentinoid-renal-dose`` (warning): gabapentin/pregabalin above the label row for kidney function.

Seed guidance: "Adjust [gabapentin] dosing in patients with renal insufficiency." Label tables in
``renal_dosing.json`` (Neurontin USPI §2.4 Table 1; Lyrica USPI). Trigger (docs/clinical-reference.md §6b "Kidney
function", §6c): a gabapentin or pregabalin draft whose daily dose or dosing frequency exceeds the row for
the patient's CrCl (Cockcroft–Gault) or, failing that, eGFR within 180 days. With no current renal result and a
benzodiazepine in the record, the card asks for one instead of assuming normal function (§7k) — only when the dose
is above what every row allows (gabapentin 300 mg/day, pregabalin 75 mg/day; §11m), so that a dose every
kidney function allows (the service's own gabapentin 100 mg at bedtime) raises nothing.

The one-click dose (§9d) is the label's column for the ordered total daily dose — the largest column of normal
kidney function not above it; a new start: the first column — in the patient's row, made of one givable product in
the fewest units a dose.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from fractions import Fraction
from typing import Any

from cds_service.clinical.declaration import Declaration, draft_of
from cds_service.clinical.dosing import DailyDose
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.orders import consultation_request
from cds_service.clinical.patient import RENAL_WINDOW_DAYS, RenalFunction, creatinine_gap
from cds_service.clinical.renal_dosing import label_row, label_tables, max_daily_mg
from cds_service.clinical.taper_plan import MAX_UNITS_PER_ADMINISTRATION, TIMES_A_DAY, PlannedDose
from cds_service.clinical.taper_step import fitted, update_draft_action
from cds_service.clinical.terminology import RXNORM, SimpleCoding
from cds_service.clinical.wording import mg, number

CARD_TYPE = "gabapentinoid-renal-dose"
SOURCE_URL = "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=ee9ad9ed-6d9f-4ee1-9d7f-cfad438df388"
DECLARATION = Declaration(
    card_type=CARD_TYPE,
    display="Gabapentinoid renal dose",
    indicators=("warning",),
    rank=130,
    gates=(("a gabapentin or pregabalin draft", draft_of("gabapentin", "pregabalin")),),
)
LABEL_URLS = {"gabapentin": SOURCE_URL,
              "pregabalin": "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=60185c88-ecfd-46f9-adb9-b97c6b00a553"}
"""Each card cites the label whose table it applies."""


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    for draft in facts.evaluated_drafts:
        if draft.product.ingredient in LABEL_URLS and not draft.ends_order:
            finding = _check(facts, draft)
            if finding is not None:
                yield finding


def _check(facts: ClinicalFacts, draft: MedicationCourse) -> Finding | None:
    renal = facts.renal_function
    ingredient = draft.product.ingredient
    if renal is None or renal.stale:
        if not (facts.history.current_de or facts.history.in_taper_context):
            return None
        # a dose every row allows needs no result first (docs/clinical-reference.md §11m)
        if not isinstance(draft.dose, DailyDose) or draft.dose.mg <= lowest_maximum_mg(ingredient):
            return None
        return _missing_renal_data(facts, draft, renal)
    row = label_row(ingredient, renal.ml_per_min)
    if row is None or not isinstance(draft.dose, DailyDose):
        return None
    per_day = draft.dose.administrations_per_day
    maximum = max_daily_mg(row, renal.ml_per_min)
    problems = []
    too_much = draft.dose.mg > maximum
    too_often = per_day is not None and per_day > row["max_doses_per_day"]
    if too_much:
        problems.append(f"{mg(draft.dose.mg)}/day is above the label maximum of {mg(maximum)}/day")
    if too_often:
        problems.append(f"{number(per_day)} doses a day; the label gives it {row['schedule']}")  # type: ignore[arg-type]
    if not problems:
        return None
    new_start = not facts.continuing(draft)
    column = column_index(ingredient, draft.dose.mg, new_start=new_start)
    in_column = column_mg(row, column, renal.ml_per_min)
    ordered_per_day = round(per_day) if per_day else None
    dose = label_dose(facts, ingredient, min(in_column, draft.dose.mg, maximum), row["doses_per_day"],
                      ordered_per_day)
    if dose is None:  # below the smallest unit (CrCl < 15): the smallest dose within the row's maximum
        dose = label_dose(facts, ingredient, min(draft.dose.mg, maximum), row["doses_per_day"], ordered_per_day,
                          smallest=True)
    action = update_draft_action(facts, draft, dose) if dose is not None else None
    label = "Neurontin (gabapentin) label Table 1" if ingredient == "gabapentin" else "Lyrica (pregabalin) label"
    proportional = maximum != Fraction(row["max_mg"])
    normal = label_tables()[ingredient]["normal_columns_mg"]
    detail = "\n".join([
        f"**Order:** {draft.label} — {'; '.join(problems)}.",
        "",
        "**Why this card:**",
        f"- Kidney function: {renal.stated}"
        + (" — eGFR is used in place of CrCl, which the label tables use." if renal.measure == "eGFR" else "."),
        *([f"- A newer {gap}."] if renal.measure == "eGFR" and (gap := _creatinine_gap(facts, renal.day)) else []),
        f"- {label}, row {row['label']}: {row['min_mg']}–{row['max_mg']} mg/day; {row['regimens']}.",
        *([f"- Below {row['proportional_below']} mL/min the label reduces the dose in proportion to CrCl: "
           f"{row['max_mg']} × {number(renal.ml_per_min, 1)} ÷ {row['proportional_below']} = {mg(maximum)}/day."]
          if proportional else []),
        (f"- Suggested dose: {'a new start takes' if new_start else f'{mg(draft.dose.mg)}/day falls in'} the "
         f"label's {_ORDINALS[column]} column — {normal[column]} mg/day with normal kidney function, "
         f"{number(in_column) if proportional else row['columns'][column].replace('-', '–')} mg/day in this row"
         + (". No marketed capsule or tablet gives it: adjust the dose by hand." if dose is None else
            f". No marketed capsule or tablet gives less than {mg(dose.daily_mg)}/day, within the row's maximum: "
            f"{dose.instruction}." if dose.daily_mg > in_column else f": {dose.instruction}.")),
        "",
        f"**Guidance:** {ingredient.capitalize()} is cleared by the kidney and accumulates when kidney function "
        "is reduced, adding sedation to the benzodiazepine: dose it to the label row (the taper summary guidance: "
        "adjust gabapentin dosing in renal insufficiency; Beers 2023: reduce gabapentinoid doses when CrCl < 60).",
    ])
    measure = f"{renal.measure} {number(renal.ml_per_min, 1)}"
    summary = (f"Reduce {ingredient} for kidney function ({measure}): label maximum {mg(maximum)}/day, "
               f"{row['schedule']}" if too_much else
               f"{ingredient.capitalize()} {number(per_day or 0)} times a day is too often for kidney function "
               f"({measure}): the label gives it {row['schedule']}")
    suggestions: tuple[Suggestion, ...] = ()
    if dose is not None and action is not None:
        first = dose.administrations[0]
        strength = dose.product.strength_mg or Fraction(0)
        unit = dose.product.unit + ("s" if first.units > 1 else "")
        # "Change to gabapentin 2 × 100 mg capsules once daily: 60 capsules for 30 days" within a label's length
        label, why = fitted(f"Change to {ingredient} {number(first.units)} × {mg(strength)} {unit} "
                            f"{TIMES_A_DAY[dose.doses_per_day]}", f"{dose.instruction}.", action)
        suggestions = (Suggestion(label, (action,), is_recommended=True, detail=why),)
    return Finding(
        card_type=CARD_TYPE, indicator="warning", summary=summary,
        detail=detail, order_id=draft.resource_id, source_url=LABEL_URLS[draft.product.ingredient],
        suggestions=suggestions,
    )


_ORDINALS = ("first", "second", "third", "fourth", "fifth")


def lowest_maximum_mg(ingredient: str) -> Fraction:
    """The most every row allows: the smallest row maximum (gabapentin 300 mg/day, pregabalin 75 mg/day)."""
    return min(Fraction(row["max_mg"]) for row in label_tables()[ingredient]["rows"])


def column_index(ingredient: str, ordered_mg: Fraction, *, new_start: bool) -> int:
    """The label's column for an ordered total daily dose: the largest column of normal kidney function not
    above it (the first when it is below them all); a new start is the first column
    (docs/clinical-reference.md §9d)."""
    if new_start:
        return 0
    normal = [Fraction(value) for value in label_tables()[ingredient]["normal_columns_mg"]]
    return max((index for index, value in enumerate(normal) if value <= ordered_mg), default=0)


def column_mg(row: dict[str, Any], column: int, crcl: Fraction) -> Fraction:
    """The row's daily dose in ``column`` (the lower end of a range), reduced in proportion to CrCl below the
    row's ``proportional_below`` like the row's maximum."""
    value = Fraction(str(row["columns"][column]).split("-")[0])
    below = row.get("proportional_below")
    if below is not None and crcl < Fraction(below):
        value = value * max(Fraction(round(crcl, 1)), Fraction(0)) / Fraction(below)
    return value


def label_dose(facts: ClinicalFacts, ingredient: str, daily_mg: Fraction, doses_per_day: list[int],
               ordered_per_day: int | None, *, smallest: bool = False) -> PlannedDose | None:
    """The largest (``smallest``: the smallest) daily dose not above ``daily_mg`` that one givable product gives on
    a schedule the row allows, in whole units, at most four a dose; then the fewest units a dose, the order's own
    schedule, fewer doses a day."""
    options = []
    for per_day in doses_per_day:
        for givable in label_tables()[ingredient]["givable"]:
            strength = Fraction(givable["strength_mg"])
            units = 1 if smallest else min(math.floor(daily_mg / per_day / strength),
                                           int(MAX_UNITS_PER_ADMINISTRATION))
            if units >= 1 and units * strength * per_day <= daily_mg:
                daily = units * strength * per_day
                options.append((daily if smallest else -daily, units, per_day != ordered_per_day, per_day,
                                givable["code"]))
    if not options:
        return None
    _, units, _, per_day, code = min(options)
    product = facts.terminology.product([SimpleCoding(RXNORM, code)])
    return PlannedDose.even(product, per_day, Fraction(units)) if product is not None else None


def _creatinine_gap(facts: ClinicalFacts, after: date | None) -> str | None:
    return creatinine_gap(facts.patient, facts.measurements, facts.evaluation.at.date(), after)


def _missing_renal_data(facts: ClinicalFacts, draft: MedicationCourse, stale: RenalFunction | None) -> Finding:
    request = consultation_request(
        facts.evaluation.patient_id,
        {"system": "http://loinc.org", "code": "2160-0",
         "display": "Creatinine [Mass/volume] in Serum or Plasma"},
        reason=f"Renal function before dosing {draft.product.ingredient}",
        clinical_summary=f"No creatinine or eGFR result within {RENAL_WINDOW_DAYS} days; needed to dose a "
                         "gabapentinoid.",
        authored_on=facts.evaluation.at.date().isoformat(),
    )
    request["intent"] = "order"
    request.pop("category", None)
    gap = _creatinine_gap(facts, stale.day if stale is not None else None)
    found = (f"the newest result, {stale.stated}, is {stale.age_days} days old (stale: older than "
             f"{RENAL_WINDOW_DAYS} days)"
             if stale is not None else "no eGFR or CrCl is on file" if gap else "no kidney function result is on file")
    if gap is not None:
        found += f"; the {gap}"
    detail = "\n".join([
        f"**Order:** {draft.label} — {found}.",
        "",
        "The dose of gabapentin and pregabalin depends on creatinine clearance; without a serum creatinine "
        f"(with weight, age and sex) or an eGFR from the last {RENAL_WINDOW_DAYS} days the service cannot check this "
        "order, and "
        "does not assume normal kidney function.",
    ])
    return Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=(f"Check kidney function before dosing {draft.product.ingredient}: "
                 + (f"latest result is {stale.age_days} days old" if stale is not None else
                    "the creatinine on file gives no CrCl" if gap else "no result on file")),
        detail=detail, order_id=draft.resource_id, source_url=LABEL_URLS[draft.product.ingredient],
        # a recent creatinine needs a weight, not another creatinine
        suggestions=() if gap and stale is None else (Suggestion("Order a serum creatinine", (
            Action(type="create", description="Order serum creatinine", resource=request),)),),
    )
