"""Daily dose of one medication order, and diazepam-equivalents (clinical.md §6b).

§6b "Daily dose of one order (mg)": Σ over ``dosageInstruction`` lines: strength (mg per unit, from the
product) × dose quantity (units; or mg if UCUM mg; mL × mg/mL for solutions) × doses/day
(frequencyMax ?? frequency ÷ period in days). ``doseRange`` → high. PRN: ``maxDosePerPeriod`` if
present, else the frequency-derived maximum, else dispensed quantity ÷ days supply. Multi-phase
(``boundsPeriod``) → the dose of the phase active at t. Pattern from the CDC opioid CDS
(``cqframework/opioid-cds OpioidCDSCommon.cql``).

§6b "DE of an order": daily mg × 10 / equivalent dose (the oral dose ≈ 10 mg oral diazepam).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from fhir.resources.R4B.dosage import Dosage

from cds_service.clinical.model import Product
from cds_service.clinical.wording import number

DAYS_PER_UNIT: dict[str, Fraction] = {
    "s": Fraction(1, 86400), "min": Fraction(1, 1440), "h": Fraction(1, 24), "d": Fraction(1),
    "wk": Fraction(7), "mo": Fraction(30), "a": Fraction(365),
}
"""UCUM time units of Timing.repeat.periodUnit in days (a month counted as 30 days, a year as 365)."""

MG_PER_UNIT: dict[str, Fraction] = {"mg": Fraction(1), "g": Fraction(1000), "ug": Fraction(1, 1000),
                                    "mcg": Fraction(1, 1000), "µg": Fraction(1, 1000)}
MILLILITRE_UNITS = {"ml", "milliliter", "millilitre"}
COUNT_UNITS = {
    "tablet", "tablets", "tab", "tabs", "{tablet}", "{tablets}", "{tbl}", "{tab}", "{pill}", "pill", "pills",
    "capsule", "capsules", "cap", "caps", "{capsule}", "{cap}", "film", "{film}", "1", "{unit}", "unit", "each",
    "{each}", "dose", "{dose}",
    # SNOMED CT / orderable units seen in EHR data: Tablet, Capsule, Oral tablet
    "732936001", "385055001", "428673006", "732937005",
}
GTS_TIMES_PER_DAY: dict[str, Fraction] = {
    "QD": Fraction(1), "DAILY": Fraction(1), "AM": Fraction(1), "PM": Fraction(1), "HS": Fraction(1),
    "QHS": Fraction(1), "BID": Fraction(2), "TID": Fraction(3), "QID": Fraction(4), "Q4H": Fraction(6),
    "Q6H": Fraction(4), "Q8H": Fraction(3), "Q12H": Fraction(2), "QOD": Fraction(1, 2), "WK": Fraction(1, 7),
}
"""HL7 v3 GTSAbbreviation timing codes (and the same abbreviations as text) as doses per day."""


@dataclass(frozen=True)
class DailyDose:
    mg: Fraction
    """Milligrams of the ingredient per day (a maximum for PRN orders)."""
    as_needed: bool
    explanation: str


@dataclass(frozen=True)
class UnknownDose:
    reason: str


DoseResult = DailyDose | UnknownDose


class _Unknown(Exception):
    pass


def daily_dose(
    dosages: Sequence[Dosage],
    product: Product,
    at: datetime,
    start: date | None = None,
    dispensed_quantity: Fraction | None = None,
    supply_days: Fraction | None = None,
) -> DoseResult:
    """Daily dose (mg/day) of one order at ``at`` over all of its dosage lines (clinical.md §6b)."""
    if not dosages:
        if dispensed_quantity is not None and supply_days:
            return average_from_supply(product, dispensed_quantity, supply_days, as_needed=False)
        return UnknownDose("no dosage instruction")
    active = [d for d in dosages if _applies(d, at, start)]
    if not active:
        return DailyDose(Fraction(0), False, f"no dosage phase active on {at.date().isoformat()}")
    as_needed = any(_is_prn(d) for d in active)
    total = Fraction(0)
    parts = []
    try:
        for dosage in active:
            mg_per_day, part = _line_mg_per_day(dosage, product)
            total += mg_per_day
            parts.append(part)
    except _Unknown as exc:
        if as_needed and dispensed_quantity is not None and supply_days:
            return average_from_supply(product, dispensed_quantity, supply_days, as_needed=True)
        return UnknownDose(str(exc))
    explanation = " + ".join(parts)
    return DailyDose(total, as_needed, f"PRN max: {explanation}" if as_needed else explanation)


def diazepam_equivalent_mg(daily_mg: Fraction, equivalent_oral_dose_mg: Fraction) -> Fraction:
    """Daily mg × 10 / eq-dose (clinical.md §6b "DE of an order"); e.g. lorazepam 3 mg with eq 1 → 30."""
    return daily_mg * 10 / equivalent_oral_dose_mg


def percent_reduction(previous_mg: Fraction, new_mg: Fraction) -> Fraction:
    """(DE_prev − DE_new) / DE_prev × 100 (clinical.md §6b "Step reduction %"); negative for an increase."""
    if previous_mg == 0:
        raise ValueError("a reduction from zero is undefined")
    return (previous_mg - new_mg) / previous_mg * 100


def average_from_supply(product: Product, quantity: Fraction, supply_days: Fraction, *, as_needed: bool
                        ) -> DoseResult:
    """Average daily dose of a supply: quantity × strength ÷ days supply (§6b PRN fallback; fills without
    directions)."""
    if product.strength_mg is None:
        return UnknownDose("strength of the product is unknown")
    mg = quantity * product.strength_mg / supply_days
    return DailyDose(mg, as_needed, f"{number(quantity)} {product.unit} over {number(supply_days)} days")


def _is_prn(dosage: Dosage) -> bool:
    return bool(dosage.asNeededBoolean) or dosage.asNeededCodeableConcept is not None


def _as_utc(value: Any, end: bool = False) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        # A date-only bound covers that whole day.
        day = value + timedelta(days=1) if end else value
        return datetime.combine(day, time.min, tzinfo=UTC)
    return None


def _applies(dosage: Dosage, at: datetime, start: date | None) -> bool:
    """Whether the line's phase (``boundsPeriod`` or ``boundsDuration``) covers ``at``.

    Start inclusive, end exclusive (a date-only end includes that day). Lines without bounds always
    apply, so lines with different ``sequence`` values but no bounds are summed.
    """
    repeat = dosage.timing.repeat if dosage.timing else None
    if repeat is None:
        return True
    if repeat.boundsPeriod is not None:
        begin = _as_utc(repeat.boundsPeriod.start)
        finish = _as_utc(repeat.boundsPeriod.end, end=True)
        return (begin is None or begin <= at) and (finish is None or at < finish)
    duration = repeat.boundsDuration
    if duration is not None and duration.value is not None and start is not None:
        unit = duration.code or duration.unit or "d"
        days = DAYS_PER_UNIT.get(unit)
        begin = _as_utc(start)
        if days is not None and begin is not None:
            return at < begin + timedelta(days=float(Fraction(duration.value) * days))
    return True


def _line_mg_per_day(dosage: Dosage, product: Product) -> tuple[Fraction, str]:
    if _is_prn(dosage) and dosage.maxDosePerPeriod is not None:
        return _max_dose_per_day(dosage, product)
    amount_mg, amount_text = _amount_mg(dosage, product)
    per_day, timing_text = _doses_per_day(dosage)
    return amount_mg * per_day, f"{amount_text} × {timing_text}"


def _max_dose_per_day(dosage: Dosage, product: Product) -> tuple[Fraction, str]:
    ratio = dosage.maxDosePerPeriod
    numerator = ratio.numerator if ratio is not None else None
    denominator = ratio.denominator if ratio is not None else None
    if numerator is None or numerator.value is None or denominator is None or denominator.value is None:
        raise _Unknown("maxDosePerPeriod is incomplete")
    amount_mg, amount_text = _quantity_mg(numerator.value, numerator.unit, numerator.code, product)
    days = DAYS_PER_UNIT.get(denominator.code or denominator.unit or "")
    if days is None or denominator.value == 0:
        raise _Unknown(f"maxDosePerPeriod period unit {denominator.code or denominator.unit!r} is not a time unit")
    return amount_mg / (Fraction(denominator.value) * days), (
        f"max {amount_text} per {number(Fraction(denominator.value))} {denominator.code or denominator.unit}")


def _amount_mg(dosage: Dosage, product: Product) -> tuple[Fraction, str]:
    for dose_and_rate in dosage.doseAndRate or []:
        quantity = dose_and_rate.doseQuantity
        if quantity is None and dose_and_rate.doseRange is not None:
            quantity = dose_and_rate.doseRange.high
        if quantity is not None and quantity.value is not None:
            return _quantity_mg(quantity.value, quantity.unit, quantity.code, product)
    raise _Unknown("no dose quantity")


def _quantity_mg(value: Any, unit: str | None, code: str | None, product: Product) -> tuple[Fraction, str]:
    amount = Fraction(value)
    names = [u.strip().lower() for u in (code, unit) if u and u.strip()]
    for name in names:
        if name in MG_PER_UNIT:
            return amount * MG_PER_UNIT[name], f"{number(amount)} {name}"
    for name in names:
        if name in MILLILITRE_UNITS:
            if product.unit != "mL":
                raise _Unknown(f"a dose in mL for a {product.unit} product")
            return _units_mg(amount, product, "mL")
    if not names or any(name in COUNT_UNITS for name in names):
        if product.unit == "mL":
            raise _Unknown("a dose in tablets or units for a liquid product")
        return _units_mg(amount, product, product.unit)
    raise _Unknown(f"dose unit {(code or unit)!r} cannot be converted to mg")


def _units_mg(amount: Fraction, product: Product, unit: str) -> tuple[Fraction, str]:
    if product.strength_mg is None:
        raise _Unknown("strength of the product is unknown")
    mg = amount * product.strength_mg
    return mg, f"{number(amount)} {unit} ({number(mg)} mg)"


def _doses_per_day(dosage: Dosage) -> tuple[Fraction, str]:
    timing = dosage.timing
    repeat = timing.repeat if timing else None
    if repeat is not None and (repeat.frequency is not None or repeat.period is not None):
        frequency = Fraction(repeat.frequencyMax if repeat.frequencyMax is not None else (repeat.frequency or 1))
        if repeat.period is None:
            return frequency, f"{number(frequency)}/day"
        days = DAYS_PER_UNIT.get(repeat.periodUnit or "")
        if days is None or repeat.period == 0:
            raise _Unknown(f"period unit {repeat.periodUnit!r} is not a time unit")
        per_day = frequency / (Fraction(repeat.period) * days)
        return per_day, f"{number(frequency)} per {number(Fraction(repeat.period))} {repeat.periodUnit}"
    if repeat is not None and repeat.when:
        return Fraction(len(repeat.when)), ", ".join(str(w) for w in repeat.when)
    if timing is not None and timing.code is not None:
        for text in [c.code for c in timing.code.coding or []] + [timing.code.text]:
            if text and text.strip().upper() in GTS_TIMES_PER_DAY:
                return GTS_TIMES_PER_DAY[text.strip().upper()], text.strip().upper()
    raise _Unknown("no frequency")


