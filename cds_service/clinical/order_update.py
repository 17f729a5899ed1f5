"""A draft order changed to a suggested dose, dispensable as it stands (docs/clinical-reference.md §9b, §9c).

§9b *Supply follows the dose*: an order carrying ``dispenseRequest`` keeps its ``expectedSupplyDuration`` (without
one, the whole days its quantity lasted at its own dose) and gets the quantity the suggested regimen uses in that
time, in the suggested product's units — whole tablets or capsules (halves are rounded up), whole mL of a liquid. A
quantity kept from another dose would run out early, and for a benzodiazepine an early run-out is an unplanned
abrupt stop. A benzodiazepine order changed here carries no refills: the next step is a new order. An order without
``dispenseRequest`` gets none.

§9c *As-needed stays as-needed*: the suggested dose of an as-needed order becomes its amount per dose and its
maximum a day (``maxDosePerPeriod``); ``asNeeded*`` is kept, never a fixed schedule. Its quantity is the share of
its maximum the draft dispensed, applied to the new maximum (never more than the new maximum uses in that time).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cds_service.clinical.dosing import DailyDose, days_in, exact
from cds_service.clinical.medications import MedicationCourse
from cds_service.clinical.model import Product
from cds_service.clinical.taper_plan import TIMES_A_DAY, Administration, PlannedDose
from cds_service.clinical.wording import number

UCUM = "http://unitsofmeasure.org"
_UNIT_CODES = {"tablet": "{tablet}", "capsule": "{capsule}", "mL": "mL"}
_UNIT_WORDS = {"tablet": ("tablet", "tablets"), "capsule": ("capsule", "capsules"), "mL": ("mL", "mL")}
_AS_NEEDED_KEYS = ("asNeededBoolean", "asNeededCodeableConcept")


@dataclass(frozen=True)
class Supply:
    """What an order dispenses: ``quantity`` units of the product for ``days`` days."""

    quantity: Fraction
    unit: str
    days: Fraction
    no_refills: bool

    @property
    def text(self) -> str:
        """"135 tablets for 30 days, no refills"."""
        singular, plural = _UNIT_WORDS.get(self.unit, (self.unit, self.unit))
        days = f"{number(self.days)} day{'' if self.days == 1 else 's'}"
        return (f"{number(self.quantity)} {singular if self.quantity == 1 else plural} for {days}"
                + (", no refills" if self.no_refills else ""))


def _units_per_day(dose: DailyDose, product: Product) -> Fraction | None:
    return dose.mg / product.strength_mg if product.strength_mg else None


def draft_supply_days(original: dict[str, Any], draft: MedicationCourse) -> Fraction | None:
    """The draft's days of supply: its ``expectedSupplyDuration``, else the whole days its quantity lasts at its
    own dose; ``None`` when neither can be read."""
    dispense = original.get("dispenseRequest") or {}
    duration = dispense.get("expectedSupplyDuration") or {}
    if duration.get("value") is not None:
        days = days_in(duration["value"], duration.get("code") or duration.get("unit") or "d")
        if days:
            return days
    quantity = (dispense.get("quantity") or {}).get("value")
    if quantity is None or not isinstance(draft.dose, DailyDose):
        return None
    per_day = _units_per_day(draft.dose, draft.product)
    if not per_day:
        return None
    lasts = math.floor(exact(quantity) / per_day)
    return Fraction(lasts) if lasts >= 1 else None


def _dispensed_units(amount: Fraction, product: Product) -> Fraction:
    """Whole tablets or capsules (a half tablet still takes a whole one), whole mL of a liquid."""
    return Fraction(math.ceil(amount))


def new_order_supply(original: dict[str, Any], dose: PlannedDose, days: Fraction) -> Supply | None:
    """The supply of an order created beside a draft carrying ``dispenseRequest``: ``dose`` for ``days``."""
    if "dispenseRequest" not in original or not dose.product.strength_mg:
        return None
    use = sum((a.units for a in dose.administrations), Fraction(0)) * days
    return Supply(_dispensed_units(use, dose.product), dose.product.unit, days,
                  dose.product.drug_class == "benzodiazepine")


def supply_for(original: dict[str, Any], draft: MedicationCourse, dose: PlannedDose,
               as_needed: bool, days: Fraction | None = None) -> Supply | None:
    """The supply of ``dose`` over the draft's days, or ``days`` (§9b); ``None`` for a draft without
    ``dispenseRequest`` or whose days cannot be read."""
    if "dispenseRequest" not in original or not dose.product.strength_mg:
        return None
    days = days or draft_supply_days(original, draft)
    if days is None:
        return None
    use = sum((a.units for a in dose.administrations), Fraction(0)) * days
    drafted = (original["dispenseRequest"].get("quantity") or {}).get("value")
    if as_needed and drafted is not None and draft.product.strength_mg and isinstance(draft.dose, DailyDose) \
            and draft.dose.mg:
        # the share of its maximum the draft dispensed, applied to the new maximum: a rare user's small supply
        # stays small, and it lasts as long at the same use
        share = exact(drafted) * draft.product.strength_mg / (draft.dose.mg * days)
        use = min(use, use * share)
    no_refills = dose.product.drug_class == "benzodiazepine"
    return Supply(_dispensed_units(use, dose.product), dose.product.unit, days, no_refills)


def dispense_request(supply: Supply, original: dict[str, Any] | None = None) -> dict[str, Any]:
    """``dispenseRequest`` for ``supply``, keeping the rest of the draft's (its dispenser, validity period)."""
    dispense = copy.deepcopy(original or {})
    # an initial fill or an interval of the old regimen would contradict the new quantity
    dispense.pop("initialFill", None)
    dispense.pop("dispenseInterval", None)
    unit = _UNIT_CODES.get(supply.unit, "{unit}")
    dispense["quantity"] = {"value": _json_number(supply.quantity), "unit": supply.unit, "system": UCUM, "code": unit}
    duration = dispense.get("expectedSupplyDuration") or {}
    if duration.get("value") is None or days_in(duration["value"], duration.get("code") or duration.get("unit")
                                                 or "d") != supply.days:
        dispense["expectedSupplyDuration"] = {"value": _json_number(supply.days), "unit": "days", "system": UCUM,
                                              "code": "d"}
    if supply.no_refills:
        dispense["numberOfRepeatsAllowed"] = 0
    return dispense


def _json_number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


def _as_needed_lines(original: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in original.get("dosageInstruction") or []
            if isinstance(line, dict) and any(line.get(key) for key in _AS_NEEDED_KEYS)]


def as_needed_dosage(template: dict[str, Any], dose: PlannedDose) -> list[dict[str, Any]]:
    """``dose`` as an as-needed line (§9c): the draft's ``asNeeded*`` (and its reason), an amount per dose, up to
    as many doses a day as the suggested regimen has, and at most its daily total (``maxDosePerPeriod``)."""
    [line] = dose.dosage()[:1]
    unit = line["doseAndRate"][0]["doseQuantity"]  # type: ignore[index]
    # the largest amount a dose: the daily maximum, not the count of doses, then bounds the day
    per_dose = max(a.units for a in dose.administrations)
    total = sum((a.units for a in dose.administrations), Fraction(0))
    times = dose.doses_per_day
    amount = dose.amount(Administration("", per_dose))
    text = (f"{amount} of {dose.product.display} as needed, up to {TIMES_A_DAY[times].replace('daily', 'a day')}"
            f"; no more than {dose.amount(Administration('', total))} a day")
    prn: dict[str, Any] = {key: copy.deepcopy(template[key]) for key in _AS_NEEDED_KEYS if key in template}
    return [{
        "sequence": 1, "text": text,
        "timing": {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}},
        **prn,
        "route": line["route"],
        "doseAndRate": [{"doseQuantity": {**unit, "value": float(per_dose)}}],
        "maxDosePerPeriod": {
            "numerator": {**unit, "value": float(total)},
            "denominator": {"value": 1, "unit": "day", "system": UCUM, "code": "d"},
        },
    }]


def updated_order(original: dict[str, Any], draft: MedicationCourse, dose: PlannedDose,
                  medication: dict[str, Any] | None, days: Fraction | None = None
                  ) -> tuple[dict[str, Any], Supply | None]:
    """The whole draft resource changed to ``dose`` (CDS Hooks: an update carries the entire resource), with its
    supply recomputed for the draft's days or ``days``; ``medication`` replaces the product when the dose is given
    with another one."""
    updated: dict[str, Any] = copy.deepcopy(original)
    updated["status"] = "draft"
    if isinstance(updated.get("category"), dict):  # the CDS Hooks sandbox sends one object; R4 wants a list
        updated["category"] = [updated["category"]]
    if medication is not None:
        updated["medicationCodeableConcept"] = medication
        updated.pop("medicationReference", None)
    as_needed = _as_needed_lines(original)
    updated["dosageInstruction"] = as_needed_dosage(as_needed[0], dose) if as_needed else dose.dosage()
    supply = supply_for(original, draft, dose, bool(as_needed), days)
    if supply is not None:
        updated["dispenseRequest"] = dispense_request(supply, original["dispenseRequest"])
    elif "dispenseRequest" in updated:
        # a quantity written for another dose would run out early: the prescriber states the new one
        updated["dispenseRequest"].pop("quantity", None)
        updated["dispenseRequest"].pop("initialFill", None)
    return updated, supply
