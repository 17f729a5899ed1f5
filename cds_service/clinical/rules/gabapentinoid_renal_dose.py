"""Card ``gabapentinoid-renal-dose`` (warning): gabapentin/pregabalin above the label row for kidney function.

Seed guidance: "Adjust [gabapentin] dosing in patients with renal insufficiency." Label tables in
``renal_dosing.json`` (Neurontin USPI §2.4 Table 1; Lyrica USPI). Trigger (docs/clinical-reference.md §6b "Renal
function", §6c): a gabapentin or pregabalin draft whose daily dose or dosing frequency exceeds the row for
the patient's CrCl (Cockcroft–Gault) or, failing that, eGFR within 180 days. With no renal result and a
benzodiazepine in the record, the card asks for one instead of assuming normal function (§8.4).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import date
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from cds_service.clinical.dosing import DailyDose
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.findings import Action, Finding, Suggestion
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.orders import consultation_request
from cds_service.clinical.patient import RenalFunction, creatinine_gap
from cds_service.clinical.taper_plan import PlannedDose
from cds_service.clinical.taper_step import update_draft_action, with_supply
from cds_service.clinical.terminology import RXNORM, SimpleCoding
from cds_service.clinical.wording import mg, number

CARD_TYPE = "gabapentinoid-renal-dose"
SOURCE_URL = "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=ee9ad9ed-6d9f-4ee1-9d7f-cfad438df388"
LABEL_URLS = {"gabapentin": SOURCE_URL,
              "pregabalin": "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=60185c88-ecfd-46f9-adb9-b97c6b00a553"}
"""Each card cites the label whose table it applies."""
SMALLEST_CAPSULE = {"gabapentin": ("310430", Fraction(100)), "pregabalin": ("483442", Fraction(25))}


@cache
def _tables() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parents[1] / "renal_dosing.json").read_text(encoding="utf-8"))
    return data


def label_row(ingredient: str, crcl: Fraction) -> dict[str, Any] | None:
    table = _tables().get(ingredient)
    if table is None:
        return None
    for row in table["rows"]:
        if ("min_crcl" in row and crcl >= Fraction(row["min_crcl"])) or (
                "above_crcl" in row and crcl > Fraction(row["above_crcl"])):
            return dict(row)
    return None


def max_daily_mg(row: dict[str, Any], crcl: Fraction) -> Fraction:
    """The row's maximum; below 15 mL/min gabapentin is reduced in proportion to CrCl (label footnote a), from
    CrCl as the card prints it (one decimal), so that the arithmetic on the card is exact."""
    maximum = Fraction(row["max_mg"])
    below = row.get("proportional_below")
    if below is not None and crcl < Fraction(below):
        maximum = maximum * max(Fraction(round(crcl, 1)), Fraction(0)) / Fraction(below)
    return maximum


def evaluate(facts: ClinicalFacts) -> Iterator[Finding]:
    for draft in facts.evaluated_drafts:
        if draft.product.ingredient in SMALLEST_CAPSULE and not draft.ends_order:
            finding = _check(facts, draft)
            if finding is not None:
                yield finding


def _check(facts: ClinicalFacts, draft: MedicationCourse) -> Finding | None:
    renal = facts.renal_function
    ingredient = draft.product.ingredient
    if renal is None or renal.stale:
        if not (facts.history.current_de or facts.history.in_taper_context):
            return None
        return _missing_renal_data(facts, draft, renal)
    row = label_row(ingredient, renal.ml_per_min)
    if row is None or not isinstance(draft.dose, DailyDose):
        return None
    per_day = draft.dose.administrations_per_day
    maximum = max_daily_mg(row, renal.ml_per_min)
    problems = []
    if draft.dose.mg > maximum:
        problems.append(f"{mg(draft.dose.mg)}/day is above the label maximum of {mg(maximum)}/day")
    if per_day is not None and per_day > row["max_doses_per_day"]:
        problems.append(f"{number(per_day)} doses a day; the label gives it {row['schedule']}")
    if not problems:
        return None
    dose = _label_dose(facts, ingredient, min(draft.dose.mg, maximum), row["max_doses_per_day"])
    action = update_draft_action(facts, draft, dose) if dose is not None else None
    label = "Neurontin (gabapentin) label Table 1" if ingredient == "gabapentin" else "Lyrica (pregabalin) label"
    proportional = maximum != Fraction(row["max_mg"])
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
        "",
        f"**Guidance:** {ingredient.capitalize()} is cleared by the kidney and accumulates when kidney function "
        "is reduced, adding sedation to the benzodiazepine: dose it to the label row (the taper summary guidance: "
        "adjust gabapentin dosing in renal insufficiency; Beers 2023: reduce gabapentinoid doses when CrCl < 60).",
    ])
    return Finding(
        card_type=CARD_TYPE, indicator="warning",
        summary=f"Reduce {ingredient} for kidney function ({renal.measure} {number(renal.ml_per_min, 1)}): "
                f"label maximum {mg(maximum)}/day, {row['schedule']}",
        detail=detail, order_id=draft.resource_id, source_url=LABEL_URLS[draft.product.ingredient],
        suggestions=(Suggestion(with_supply(f"Change to {dose.instruction}", action), (action,), is_recommended=True),)
        if dose is not None and action is not None else (),
    )


def _creatinine_gap(facts: ClinicalFacts, after: date | None) -> str | None:
    return creatinine_gap(facts.patient, facts.measurements, facts.evaluation.at.date(), after)


def _label_dose(facts: ClinicalFacts, ingredient: str, daily_mg: Fraction, per_day: int) -> PlannedDose | None:
    code, strength = SMALLEST_CAPSULE[ingredient]
    product = facts.terminology.product([SimpleCoding(RXNORM, code)])
    per_dose = Fraction(math.floor(daily_mg / per_day / strength)) * strength
    if product is None or per_dose <= 0:
        return None
    return PlannedDose.even(product, per_day, per_dose / strength)


def _missing_renal_data(facts: ClinicalFacts, draft: MedicationCourse, stale: RenalFunction | None) -> Finding:
    request = consultation_request(
        facts.evaluation.patient_id,
        {"system": "http://loinc.org", "code": "2160-0",
         "display": "Creatinine [Mass/volume] in Serum or Plasma"},
        reason=f"Renal function before dosing {draft.product.ingredient}",
        clinical_summary="No creatinine or eGFR result within 180 days; needed to dose a gabapentinoid.",
        authored_on=facts.evaluation.at.date().isoformat(),
    )
    request["intent"] = "order"
    request.pop("category", None)
    gap = _creatinine_gap(facts, stale.day if stale is not None else None)
    found = (f"the newest result, {stale.stated}, is {stale.age_days} days old (stale: older than 180 days)"
             if stale is not None else "no eGFR or CrCl is on file" if gap else "no kidney function result is on file")
    if gap is not None:
        found += f"; the {gap}"
    detail = "\n".join([
        f"**Order:** {draft.label} — {found}.",
        "",
        "The dose of gabapentin and pregabalin depends on creatinine clearance; without a serum creatinine "
        "(with weight, age and sex) or an eGFR from the last 180 days the service cannot check this order, and "
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
