"""A pharmacist's check of what a prescriber signs in one click (docs/clinical-reference.md §9b–§9d).

Every MedicationRequest a card's suggestion creates or updates must be dispensable exactly as it stands:

- **valid R4** (parsed by ``fhir.resources``);
- **a givable product**: a marketed oral strength the service plans with (``dose_forms.json``; gabapentin
  100/300/400 mg capsules and 600/800 mg tablets; pregabalin 25–300 mg capsules; the naloxone nasal spray),
  each dose a whole number of its smallest givable amount (½ of a scored tablet, one capsule, tablet or
  device, 0.1 mL of a liquid); more than four tablets or capsules at one time only when no other strength of the
  same form gives the doses in fewer (7½ × 2 mg diazepam where 3 × 5 mg do is not), and a gabapentinoid never
  (7 × 100 mg gabapentin is not the fewest units a dose);
- **supply that lasts**: ``dispenseRequest.quantity`` at least the regimen's use over
  ``expectedSupplyDuration`` (whole tablets or capsules, mL of a liquid), stated in the product's units; an
  as-needed order at most its maximum use over that time (a rescue supply without a duration, such as
  naloxone, is not a regimen); an update of a draft without ``dispenseRequest``
  adds none, and an update of a draft with one keeps one; a benzodiazepine order carries no refills; the
  suggestion's label says what is dispensed;
- **as-needed kept**: an update of an as-needed draft stays as-needed on every dosage line.

This is an oracle independent of the service's code: it reads the data files and the resources only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

ROOT = Path(__file__).resolve().parents[2]
TERMINOLOGY = ROOT / "cds_service" / "clinical" / "terminology"
_PERIOD_DAYS = {"s": Fraction(1, 86400), "min": Fraction(1, 1440), "h": Fraction(1, 24), "d": Fraction(1),
                "wk": Fraction(7), "mo": Fraction(30), "a": Fraction(365)}
_UNIT_WORDS = {"tablet": ("tablet", "tablets"), "capsule": ("capsule", "capsules"), "mL": ("mL", "mL"),
               "device": ("device", "devices"), "odt": ("tablet", "tablets")}
NALOXONE_NASAL_SPRAY = "1725059"
MAX_UNITS_A_DOSE = 4
"""More tablets or capsules than this at one time is not the fewest units a dose (for a benzodiazepine: unless no
other strength of the form does better, the planner's last resort)."""
GABAPENTINOID_GIVABLE = {
    "310430", "310431", "310432", "310433", "310434",  # gabapentin 100/300/400 mg capsules, 600/800 mg tablets
    "483442", "483448", "483450", "483438", "483440", "483446", "577127", "483444",  # pregabalin capsules
}


@dataclass(frozen=True)
class Givable:
    code: str
    ingredient: str
    unit: str
    """``tablet``, ``capsule``, ``mL`` or ``device``: what the quantity is counted in."""
    strength_mg: Fraction
    step: Fraction
    """The smallest amount one dose can be: ½ a scored tablet, 1 unit, 0.1 mL."""
    benzodiazepine: bool
    kind: str
    """``tablet``, ``odt``, ``capsule``, ``liquid`` or ``device``: strengths of one kind can replace each other."""


@cache
def givable_products() -> dict[str, Givable]:
    forms = json.loads((TERMINOLOGY / "dose_forms.json").read_text(encoding="utf-8"))["ingredients"]
    products = {row["code"]: row for row in
                json.loads((TERMINOLOGY / "products.json").read_text(encoding="utf-8"))["products"]}
    givable: dict[str, Givable] = {}
    for ingredient, rows in forms.items():
        for row in rows:
            kind = row["form"]
            unit = {"liquid": "mL", "capsule": "capsule"}.get(kind, "tablet")
            step = Fraction(row.get("measure_ml", "1")) if kind == "liquid" else \
                Fraction(1, 2) if kind == "tablet" and row.get("scored") else Fraction(1)
            givable[row["code"]] = Givable(row["code"], ingredient, unit, Fraction(row["strength_mg"]), step, True,
                                           kind)
    for code in GABAPENTINOID_GIVABLE:
        row = products[code]
        givable[code] = Givable(code, row["ingredient"], row["unit"], Fraction(row["strength_mg"]), Fraction(1),
                                False, row["unit"])
    givable[NALOXONE_NASAL_SPRAY] = Givable(NALOXONE_NASAL_SPRAY, "naloxone", "device", Fraction(4), Fraction(1),
                                            False, "device")
    return givable


def number_text(value: Fraction) -> str:
    return str(int(value)) if value.denominator == 1 else f"{float(value):g}"


def _pieces(units: Fraction) -> int:
    """Tablets or capsules taken at one time: half a tablet is still one piece to take."""
    return math.ceil(units)


def _fewer_units(product: Givable, doses: list[Fraction]) -> str | None:
    """Another strength of the same drug and form that gives every dose of the order in fewer pieces a day."""
    if product.unit == "mL":
        return None
    amounts = [units * product.strength_mg for units in doses]
    pieces = sum(_pieces(units) for units in doses)
    for other in givable_products().values():
        if other.ingredient != product.ingredient or other.kind != product.kind or other.code == product.code:
            continue
        counts = [amount / other.strength_mg for amount in amounts]
        if all((count / other.step).denominator == 1 for count in counts) and \
                sum(_pieces(count) for count in counts) < pieces:
            return (f"{' + '.join(map(number_text, counts))} of {number_text(other.strength_mg)} mg give the same "
                    "doses in fewer pieces")
    return None


def _code(resource: dict[str, Any]) -> str | None:
    for coding in resource.get("medicationCodeableConcept", {}).get("coding", []):
        if coding.get("system") == "http://www.nlm.nih.gov/research/umls/rxnorm":
            return str(coding.get("code"))
    return None


def _is_as_needed(line: dict[str, Any]) -> bool:
    return bool(line.get("asNeededBoolean")) or "asNeededCodeableConcept" in line or bool(line.get("asNeeded"))


def is_as_needed(resource: dict[str, Any]) -> bool:
    return any(_is_as_needed(line) for line in resource.get("dosageInstruction", []))


def _dose_units(line: dict[str, Any], product: Givable) -> Fraction | None:
    """Units of the product one administration gives (a ``doseRange`` counts its high end)."""
    for dose_and_rate in line.get("doseAndRate", []):
        quantity = dose_and_rate.get("doseQuantity") or (dose_and_rate.get("doseRange") or {}).get("high")
        if quantity and quantity.get("value") is not None:
            value = Fraction(str(quantity["value"]))
            return value / product.strength_mg if quantity.get("code", quantity.get("unit")) == "mg" else value
    return None


def _times_per_day(line: dict[str, Any]) -> Fraction | None:
    repeat = line.get("timing", {}).get("repeat")
    if not repeat:
        return None
    period = Fraction(str(repeat.get("period", 1))) * _PERIOD_DAYS.get(repeat.get("periodUnit", "d"), Fraction(0))
    if not period:
        return None
    return Fraction(repeat.get("frequencyMax", repeat.get("frequency", 1))) / period


def _max_per_day(line: dict[str, Any], product: Givable) -> Fraction | None:
    ratio = line.get("maxDosePerPeriod")
    if not ratio:
        return None
    numerator, denominator = ratio.get("numerator", {}), ratio.get("denominator", {})
    days = Fraction(str(denominator.get("value", 1))) * _PERIOD_DAYS.get(
        denominator.get("code", denominator.get("unit", "d")), Fraction(0))
    if numerator.get("value") is None or not days:
        return None
    amount = Fraction(str(numerator["value"]))
    if numerator.get("code", numerator.get("unit")) == "mg":
        amount /= product.strength_mg
    return amount / days


def units_per_day(resource: dict[str, Any], product: Givable) -> Fraction | None:
    """The units the regimen uses a day (for an as-needed line, its maximum); ``None`` when it cannot be read."""
    total = Fraction(0)
    for line in resource.get("dosageInstruction", []):
        dose, times = _dose_units(line, product), _times_per_day(line)
        by_frequency = dose * times if dose is not None and times is not None else None
        ceiling = _max_per_day(line, product) if _is_as_needed(line) else None
        use = min(x for x in (by_frequency, ceiling) if x is not None) \
            if by_frequency is not None or ceiling is not None else None
        if use is None:
            return None
        total += use
    return total or None


def supply_days(dispense: dict[str, Any]) -> Fraction | None:
    duration = dispense.get("expectedSupplyDuration")
    if not duration or duration.get("value") is None:
        return None
    unit = duration.get("code") or {"days": "d", "day": "d", "weeks": "wk", "week": "wk"}.get(
        duration.get("unit", "d"), duration.get("unit", "d"))
    per = _PERIOD_DAYS.get(unit)
    return Fraction(str(duration["value"])) * per if per is not None else None


def needed_quantity(per_day: Fraction, days: Fraction, product: Givable) -> Fraction:
    """What a regimen uses over ``days``: whole tablets or capsules (halves are rounded up), mL of a liquid."""
    use = per_day * days
    return Fraction(math.ceil(use)) if product.unit != "mL" else use


def dispensed_words(quantity: Fraction, product: Givable) -> str:
    singular, plural = _UNIT_WORDS[product.unit]
    shown = str(int(quantity)) if quantity.denominator == 1 else f"{float(quantity):g}"
    return f"{shown} {singular if quantity == 1 else plural}"


def order_problems(resource: dict[str, Any], label: str, draft: dict[str, Any] | None) -> list[str]:
    """Why a one-click MedicationRequest cannot be dispensed as it stands (empty: it can)."""
    problems: list[str] = []
    try:
        get_fhir_model_class("MedicationRequest").model_validate(resource)
    except Exception as exc:  # any validation error is the finding
        problems.append(f"not valid R4: {str(exc).splitlines()[0]}")
    code = _code(resource)
    product = givable_products().get(code or "")
    if product is None:
        return [*problems, f"product {code} is not a givable product"]
    for line in resource.get("dosageInstruction", []):
        units = _dose_units(line, product)
        if units is None or units <= 0 or (units / product.step).denominator != 1:
            problems.append(f"a dose of {units} {product.unit} of {code} cannot be given (steps of {product.step})")
        elif not product.benzodiazepine and product.unit != "mL" and units > MAX_UNITS_A_DOSE:
            problems.append(f"{units} {product.unit}s at one time: not the fewest units a dose")
    doses = [units for line in resource.get("dosageInstruction", [])
             if (units := _dose_units(line, product)) is not None and units > 0]
    if doses and max(doses) > MAX_UNITS_A_DOSE and (fewer := _fewer_units(product, doses)) is not None:
        problems.append(f"{' + '.join(map(number_text, doses))} {product.unit}s of "
                        f"{number_text(product.strength_mg)} mg: {fewer}")
    if draft is not None and is_as_needed(draft) and not all(
            _is_as_needed(line) for line in resource.get("dosageInstruction", [])):
        problems.append("the draft is as-needed; the one-click order is a fixed schedule")
    dispense = resource.get("dispenseRequest")
    if draft is not None and "dispenseRequest" not in draft and dispense is not None:
        problems.append("the draft carries no dispenseRequest; the one-click order adds one")
    if draft is not None and "dispenseRequest" in draft and dispense is None:
        problems.append("the draft carries a dispenseRequest; the one-click order drops it")
    if dispense is None:
        return problems
    if product.benzodiazepine and dispense.get("numberOfRepeatsAllowed", 0) > 0:
        problems.append(f"a benzodiazepine one-click order with {dispense['numberOfRepeatsAllowed']} refills")
    quantity = dispense.get("quantity")
    if not quantity or quantity.get("value") is None:
        return [*problems, "dispenseRequest without a quantity"]
    amount = Fraction(str(quantity["value"]))
    unit = quantity.get("unit")
    if unit is not None and not any(word in unit.strip("{}").split() for word in _UNIT_WORDS[product.unit]):
        problems.append(f"quantity in {unit!r}, the product is counted in {product.unit}")
    days = supply_days(dispense)
    per_day = units_per_day(resource, product)
    if days is None:
        # a rescue supply (naloxone) lasts until it is needed; a regimen's supply has a duration
        if not is_as_needed(resource):
            problems.append("dispenseRequest without an expectedSupplyDuration")
        return problems
    elif per_day is None:
        problems.append("the regimen's daily use cannot be read")
    elif is_as_needed(resource):
        if amount > needed_quantity(per_day, days, product):
            problems.append(f"as-needed: {amount} {product.unit} is more than the maximum use over {days} days")
    elif amount < needed_quantity(per_day, days, product):
        problems.append(f"{amount} {product.unit} last {float(amount / per_day):.1f} days, not {days}: "
                        f"{float(per_day):g} {product.unit} a day need "
                        f"{needed_quantity(per_day, days, product)}")
    if dispensed_words(amount, product) not in label:
        problems.append(f"the label does not say what is dispensed ({dispensed_words(amount, product)!r})")
    return problems


def one_click_problems(request: dict[str, Any], cards: list[dict[str, Any]]) -> list[str]:
    """Every problem of every MedicationRequest the cards' suggestions create or update, with where it is."""
    context = request["context"]
    bundle = context.get("draftOrders") or context.get("medications") or {}
    drafts = {str(e["resource"].get("id")): e["resource"] for e in bundle.get("entry", [])
              if isinstance(e.get("resource"), dict)}
    found: list[str] = []
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                resource = action.get("resource") or {}
                if action["type"] not in ("create", "update") or resource.get("resourceType") != "MedicationRequest":
                    continue
                draft = drafts.get(str(resource.get("id"))) if action["type"] == "update" else None
                for problem in order_problems(resource, suggestion["label"], draft):
                    found.append(f"{card['source']['topic']['code']} / {suggestion['label']!r}: {problem}")
    return found


def assert_dispensable(request: dict[str, Any], cards: list[dict[str, Any]]) -> None:
    problems = one_click_problems(request, cards)
    assert not problems, "one-click orders that cannot be dispensed as they stand:\n" + "\n".join(problems)
