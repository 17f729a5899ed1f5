"""Daily dose of one medication order, and diazepam-equivalents (docs/clinical-reference.md §6b, §7b).

§6b "Daily dose of an order": Σ over ``dosageInstruction`` lines: strength (mg per unit, from the
product) × dose quantity (units; or mg if UCUM mg; mL × mg/mL for solutions) × doses/day
(frequencyMax ?? frequency ÷ period in days). ``doseRange`` → high. PRN: ``maxDosePerPeriod`` if
present, else the frequency-derived maximum, else dispensed quantity ÷ days supply. Multi-phase
(``sequence``, ``boundsPeriod``, ``boundsDuration``) → the dose of the phase active at t. Pattern from the
CDC opioid CDS (``cqframework/opioid-cds OpioidCDSCommon.cql``).

§7b: units as clinicians write them (``mg``, ``mg/d``, ``mg/day``, tablets, mL), every FHIR unit of time
and frequency form (q8h = 3 a day, ``when``, ``timeOfDay``, ranges → high), a dose written only in the sig
text ("5 mg twice daily"); what still cannot be read falls back to the dispensed quantity ÷ days supply.
This module is the only place the service reads a frequency or a unit: every rule asks it.

§6b "DE of an order": daily mg × 10 / equivalent dose (the oral dose ≈ 10 mg oral diazepam).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cds_service.clinical.model import Product
from cds_service.clinical.resources import Dosage
from cds_service.clinical.wording import number, plain_text

TIME_UNIT_DAYS: dict[str, Fraction] = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), Fraction(1, 86400)),
    **dict.fromkeys(("min", "minute", "minutes"), Fraction(1, 1440)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), Fraction(1, 24)),
    **dict.fromkeys(("d", "day", "days"), Fraction(1)),
    **dict.fromkeys(("wk", "week", "weeks"), Fraction(7)),
    **dict.fromkeys(("mo", "month", "months"), Fraction(30)),
    **dict.fromkeys(("a", "yr", "year", "years"), Fraction(365)),
}
"""The one table of time units (UCUM codes of Timing.periodUnit and Duration, and the words clinicians write),
in days: a month counted as 30 days, a year as 365."""

MG_PER_UNIT: dict[str, Fraction] = {
    **dict.fromkeys(("mg", "mgs", "milligram", "milligrams"), Fraction(1)),
    **dict.fromkeys(("g", "gram", "grams"), Fraction(1000)),
    **dict.fromkeys(("ug", "mcg", "µg", "microgram", "micrograms"), Fraction(1, 1000)),
}
MILLILITRE_UNITS = frozenset({"ml", "milliliter", "milliliters", "millilitre", "millilitres", "cc"})
COUNT_UNITS = frozenset({
    "tablet", "tablets", "tab", "tabs", "tbl", "{tablet}", "{tablets}", "{tbl}", "{tab}", "{pill}", "pill", "pills",
    "capsule", "capsules", "cap", "caps", "{capsule}", "{cap}", "film", "{film}", "1", "{unit}", "unit", "units",
    "each", "{each}", "dose", "doses", "{dose}",
    # SNOMED CT / orderable units seen in EHR data: Tablet, Capsule, Oral tablet
    "732936001", "385055001", "428673006", "732937005",
})
GTS_TIMES_PER_DAY: dict[str, Fraction] = {
    "QD": Fraction(1), "DAILY": Fraction(1), "AM": Fraction(1), "PM": Fraction(1), "HS": Fraction(1),
    "QHS": Fraction(1), "BID": Fraction(2), "TID": Fraction(3), "QID": Fraction(4), "Q4H": Fraction(6),
    "Q6H": Fraction(4), "Q8H": Fraction(3), "Q12H": Fraction(2), "QOD": Fraction(1, 2), "WK": Fraction(1, 7),
}
"""HL7 v3 GTSAbbreviation timing codes as doses per day (the same abbreviations as free text are read by
:func:`read_sig`)."""

MAX_SIG_TEXT = 200
"""Characters of a sig text that are read: directions are short; a longer text is cut before any pattern runs."""


@dataclass(frozen=True)
class DailyDose:
    mg: Fraction
    """Milligrams of the ingredient per day (a maximum for PRN orders)."""
    as_needed: bool
    explanation: str
    administrations_per_day: Fraction | None = None
    """How many times a day the order is taken (``None`` when the order gives only an amount per day)."""


@dataclass(frozen=True)
class UnknownDose:
    reason: str


DoseResult = DailyDose | UnknownDose


class _Unknown(Exception):
    pass


def _as_written(value: object) -> str:
    """A unit as the record writes it, quoted, for the reason a card repeats: through the one plain-text function
    (docs/service-contract.md §9), so a record's unit can never be a link or markup on the card."""
    return f"'{plain_text(value, 40)}'"


def exact(value: Any) -> Fraction:
    """A FHIR decimal or integer as an exact ``Fraction``: ``Decimal('0.125')`` → 1/8, a float by the digits it
    prints (``0.1`` → 1/10, never its binary expansion)."""
    # int and finite Decimal convert exactly without the string round trip that every other value takes
    # (every order passes here several times)
    if type(value) is int or (isinstance(value, Decimal) and value.is_finite()):
        return Fraction(value)
    return Fraction(str(value))


def days_in(value: Any, unit: str | None) -> Fraction | None:
    """A duration in days (``Fraction``), or ``None`` when the unit is not a unit of time."""
    per = TIME_UNIT_DAYS.get((unit or "").strip().lower()) if unit else None
    if per is None or value is None:
        return None
    return exact(value) * per


def daily_dose(
    dosages: Sequence[Dosage],
    product: Product,
    at: datetime,
    start: date | None = None,
    dispensed_quantity: Fraction | None = None,
    supply_days: Fraction | None = None,
) -> DoseResult:
    """Daily dose (mg/day) of one order at ``at`` over all of its dosage lines (docs/clinical-reference.md §6b,
    §7b)."""
    supply = (dispensed_quantity, supply_days) if dispensed_quantity is not None and supply_days else None
    if not dosages:
        if supply is not None:
            return average_from_supply(product, *supply, as_needed=False, why="no dosage instruction")
        return UnknownDose("no dosage instruction")
    active = [d for d, (begin, end) in zip(dosages, phase_bounds(dosages, start), strict=True)
              if (begin is None or begin <= at) and (end is None or at < end)]
    if not active:
        return DailyDose(Fraction(0), False, f"no dosage phase active on {at.date().isoformat()}")
    as_needed = any(_is_prn(d) for d in active)
    total = Fraction(0)
    administrations: Fraction | None = Fraction(0)
    parts = []
    try:
        for dosage in active:
            mg_per_day, per_day, part = _line_mg_per_day(dosage, product)
            total += mg_per_day
            administrations = administrations + per_day if administrations is not None and per_day else None
            parts.append(part)
    except _Unknown as exc:
        if supply is not None:
            return average_from_supply(product, *supply, as_needed=as_needed, why=str(exc))
        return UnknownDose(str(exc))
    explanation = " + ".join(parts)
    return DailyDose(total, as_needed, f"PRN max: {explanation}" if as_needed else explanation,
                     administrations or None)


class DoseReader:
    """:func:`daily_dose` for the records of one evaluation, each distinct reading done once: years of refills
    repeat one dosage (the dosages are values: two orders that repeat a dosage hold equal ones), and an order
    reads the same whatever its date unless a phase is counted from that date (``boundsDuration``)."""

    def __init__(self) -> None:
        self._read: dict[tuple[Any, ...], DoseResult] = {}

    def daily_dose(self, dosages: Sequence[Dosage], product: Product, at: datetime, start: date | None = None,
                   dispensed_quantity: Fraction | None = None, supply_days: Fraction | None = None) -> DoseResult:
        lines = tuple(dosages)
        key = (lines, product, at, start if _counts_from_start(lines) else None, dispensed_quantity, supply_days)
        known = self._read.get(key)
        if known is None:
            known = self._read[key] = daily_dose(lines, product, at, start, dispensed_quantity, supply_days)
        return known


def diazepam_equivalent_mg(daily_mg: Fraction, equivalent_oral_dose_mg: Fraction) -> Fraction:
    """Daily mg × 10 / eq-dose (docs/clinical-reference.md §6b "DE of an order"); e.g. lorazepam 3 mg with eq 1 → 30."""
    return daily_mg * 10 / equivalent_oral_dose_mg


def percent_reduction(previous_mg: Fraction, new_mg: Fraction) -> Fraction:
    """(DE_prev − DE_new) / DE_prev × 100 (docs/clinical-reference.md §6b "Step reduction %"); negative for an
    increase."""
    if previous_mg == 0:
        raise ValueError("a reduction from zero is undefined")
    return (previous_mg - new_mg) / previous_mg * 100


def average_from_supply(product: Product, quantity: Fraction, supply_days: Fraction, *, as_needed: bool,
                        why: str | None = None) -> DoseResult:
    """Average daily dose of a supply: quantity × strength ÷ days supply (§6b PRN fallback; §7b an order or
    fill whose directions cannot be read). ``why`` says what the directions lacked."""
    if product.strength_mg is None:
        return UnknownDose("strength of the product is unknown" + (f"; {why}" if why else ""))
    mg = quantity * product.strength_mg / supply_days
    source = f"{number(quantity)} {product.unit} over {number(supply_days)} days"
    return DailyDose(mg, as_needed, f"{source} (directions: {why})" if why else source)


def phase_bounds(dosages: Sequence[Dosage], start: date | None) -> list[tuple[datetime | None, datetime | None]]:
    """When each dosage line applies, ``[begin, end)`` (``None``: unbounded) — docs/clinical-reference.md §7c phases.

    ``boundsPeriod`` gives the dates (a date-only end includes that day). ``boundsDuration`` runs from the
    end of the previous ``sequence`` (a phase follows the one before it), else from the order start. A line
    without bounds applies from the end of the previous sequence, or always; lines of one sequence, or
    without one, are taken together."""
    order_start = _as_utc(start)
    sequence_end: dict[int, datetime | None] = {}
    bounds: list[tuple[datetime | None, datetime | None]] = []
    for dosage in dosages:
        repeat = dosage.timing.repeat if dosage.timing else None
        sequence = dosage.sequence
        earlier = [s for s in sequence_end if sequence is not None and s < sequence]
        follows = sequence_end[max(earlier)] if earlier else None
        begin: datetime | None = follows
        end: datetime | None = None
        if repeat is not None and repeat.boundsPeriod is not None:
            begin = _as_utc(repeat.boundsPeriod.start)
            end = _as_utc(repeat.boundsPeriod.end, end=True)
        elif repeat is not None and repeat.boundsDuration is not None:
            duration = repeat.boundsDuration
            days = days_in(duration.value, duration.code or duration.unit or "d")
            begin = follows or order_start
            if days is not None and begin is not None:
                end = begin + timedelta(days=float(days))
        bounds.append((begin, end))
        if sequence is not None:
            # an open-ended line leaves the sequence open: nothing after it can be dated
            sequence_end[sequence] = end if sequence not in sequence_end else max(
                (e for e in (sequence_end[sequence], end) if e is not None), default=None)
    return bounds


def _counts_from_start(dosages: Sequence[Dosage]) -> bool:
    """Whether :func:`phase_bounds` reads the order's start: only a ``boundsDuration`` is counted from it."""
    for dosage in dosages:  # a loop, not any(): every order of a long history asks, most with a single dosage
        if dosage.timing is not None and dosage.timing.repeat is not None \
                and dosage.timing.repeat.boundsDuration is not None:
            return True
    return False


def _is_prn(dosage: Dosage) -> bool:
    return bool(dosage.asNeededBoolean) or dosage.asNeededCodeableConcept is not None \
        or (dosage.text is not None and read_sig(dosage.text).as_needed)


def _as_utc(value: Any, end: bool = False) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        # A date-only bound covers that whole day.
        day = value + timedelta(days=1) if end else value
        return datetime.combine(day, time.min, tzinfo=UTC)
    return None


def _line_mg_per_day(dosage: Dosage, product: Product) -> tuple[Fraction, Fraction | None, str]:
    """mg/day of one line, how many times a day it is taken (``None`` if not said), and how it was read."""
    sig = read_sig(dosage.text) if dosage.text else Sig()
    if _is_prn(dosage) and dosage.maxDosePerPeriod is not None:
        mg_per_day, text = _max_dose_per_day(dosage, product)
        return mg_per_day, _per_day_or_none(dosage, sig), text
    amount_mg, amount_days, amount_text = _amount_mg(dosage, product, sig)
    if amount_days is not None:  # written as an amount per day ("10 mg/d"): the timing only says how it is split
        return amount_mg / amount_days, _per_day_or_none(dosage, sig), amount_text
    per_day, timing_text = _doses_per_day(dosage, sig)
    return amount_mg * per_day, per_day, f"{amount_text} × {timing_text}"


def _per_day_or_none(dosage: Dosage, sig: Sig) -> Fraction | None:
    try:
        return _doses_per_day(dosage, sig)[0]
    except _Unknown:
        return None


def _max_dose_per_day(dosage: Dosage, product: Product) -> tuple[Fraction, str]:
    ratio = dosage.maxDosePerPeriod
    numerator = ratio.numerator if ratio is not None else None
    denominator = ratio.denominator if ratio is not None else None
    if numerator is None or numerator.value is None or denominator is None or denominator.value is None:
        raise _Unknown("maxDosePerPeriod is incomplete")
    amount_mg, _, amount_text = _quantity_mg(numerator.value, numerator.unit, numerator.code, product)
    unit = denominator.code or denominator.unit
    days = days_in(denominator.value, unit)
    if not days:
        raise _Unknown(f"maxDosePerPeriod period unit {_as_written(unit)} is not a time unit")
    return amount_mg / days, f"max {amount_text} per {number(exact(denominator.value))} {unit}"


def _amount_mg(dosage: Dosage, product: Product, sig: Sig) -> tuple[Fraction, Fraction | None, str]:
    for dose_and_rate in dosage.doseAndRate or []:
        quantity = dose_and_rate.doseQuantity
        if quantity is None and dose_and_rate.doseRange is not None:
            quantity = dose_and_rate.doseRange.high
        if quantity is not None and quantity.value is not None:
            return _quantity_mg(quantity.value, quantity.unit, quantity.code, product)
    if sig.amount is not None:
        return _quantity_mg(sig.amount, sig.amount_unit, None, product)
    raise _Unknown("no dose quantity")


def _quantity_mg(value: Any, unit: str | None, code: str | None, product: Product
                 ) -> tuple[Fraction, Fraction | None, str]:
    """mg of one dose, and the days it covers when written as an amount per time ("mg/d"; else ``None``)."""
    amount = exact(value)
    names = [u.strip().lower() for u in (code, unit) if u and u.strip()]
    for name in names:
        mass, _, per = name.replace(" ", "").partition("/")
        if mass in MG_PER_UNIT:
            per_days = _per_time_days(per) if per else None
            if per and per_days is None:
                continue  # "mg/kg", "mg/ml" … are not a dose
            text = f"{number(amount)} {mass}" + (f"/{per}" if per else "")
            return amount * MG_PER_UNIT[mass], per_days, text
    for name in names:
        if name in MILLILITRE_UNITS:
            if product.unit != "mL":
                raise _Unknown(f"a dose in mL for a {product.unit} product")
            return _units_mg(amount, product, "mL")
    if not names or any(name in COUNT_UNITS for name in names):
        if product.unit == "mL":
            raise _Unknown("a dose in tablets or units for a liquid product")
        return _units_mg(amount, product, product.unit)
    raise _Unknown(f"dose unit {_as_written(code or unit)} cannot be converted to mg")


_PER_TIME = re.compile(r"(\d{1,3})?([a-z]{1,7})")


def _per_time_days(text: str) -> Fraction | None:
    """Days in the time part of a rate unit: ``d``, ``day``, ``24h``, ``wk``."""
    match = _PER_TIME.fullmatch(text)
    if match is None:
        return None
    return days_in(match.group(1) or 1, match.group(2))


def _units_mg(amount: Fraction, product: Product, unit: str) -> tuple[Fraction, None, str]:
    if product.strength_mg is None:
        raise _Unknown("strength of the product is unknown")
    mg = amount * product.strength_mg
    return mg, None, f"{number(amount)} {unit} ({number(mg)} mg)"


def _doses_per_day(dosage: Dosage, sig: Sig) -> tuple[Fraction, str]:
    timing = dosage.timing
    repeat = timing.repeat if timing else None
    if repeat is not None:
        found = _repeat_per_day(repeat)
        if found is not None:
            return found
    if timing is not None and timing.code is not None:
        for text in [c.code for c in timing.code.coding or []] + [timing.code.text]:
            if text and text.strip().upper() in GTS_TIMES_PER_DAY:
                return GTS_TIMES_PER_DAY[text.strip().upper()], text.strip().upper()
            coded = read_sig(text).per_day if text else None
            if coded is not None:
                return coded, text.strip()[:40] if text else ""
    if sig.per_day is not None:
        return sig.per_day, sig.frequency_text
    raise _Unknown("no frequency")


def _repeat_per_day(repeat: Any) -> tuple[Fraction, str] | None:
    """Times a day from Timing.repeat, and how it was read; ``None`` if it says none.

    The frequency (``frequencyMax`` preferred) per period (the shorter period of a range); on a daily schedule
    the named moments count too (``when``, ``timeOfDay``: at least one dose each) and only the ``dayOfWeek`` days.
    Examples: frequency 1 per 8 h → 3 ("1 per 8 h"); frequency 2, frequencyMax 3 per 1 d → 3; frequency 1 per
    1 d at ``MORN`` and ``HS`` → 2 ("MORN, HS"); frequency 1 per 1 d on mon, wed, fri → 3/7 ("1 per 1 d on mon,
    wed, fri"); frequency 1 per 2 d at ``HS`` → 1/2 (moments count on a daily schedule only)."""
    moments = [*(str(w) for w in repeat.when or []), *(str(t) for t in repeat.timeOfDay or [])]
    if repeat.frequency is None and repeat.frequencyMax is None and repeat.period is None and not moments:
        return None
    frequency = Fraction(repeat.frequencyMax if repeat.frequencyMax is not None else repeat.frequency or 1)
    if repeat.period is None:
        days: Fraction | None = Fraction(1)
        text = f"{number(frequency)}/day"
    else:
        days = days_in(repeat.period, repeat.periodUnit or "d")
        text = f"{number(frequency)} per {number(exact(repeat.period))} {repeat.periodUnit or 'd'}"
    if not days:
        raise _Unknown(f"period unit {_as_written(repeat.periodUnit)} is not a time unit")
    per_day = frequency / days
    if days == 1 and moments and per_day <= 1:
        per_day, text = max(per_day, Fraction(len(moments))), ", ".join(moments)
    if days == 1 and repeat.dayOfWeek:
        per_day = per_day * len(set(repeat.dayOfWeek)) / 7
        text += f" on {', '.join(str(d) for d in repeat.dayOfWeek)}"
    return per_day, text


@dataclass(frozen=True)
class Sig:
    """What free-text directions say: the dose, how often, and whether as needed."""

    amount: Fraction | None = None
    amount_unit: str | None = None
    per_day: Fraction | None = None
    frequency_text: str = ""
    as_needed: bool = False


_NUMBER = r"(\d{1,4}(?:\.\d{1,3})?|\d/\d|one|two|three|four|half|a half)"
_WORD_NUMBERS = {"one": Fraction(1), "two": Fraction(2), "three": Fraction(3), "four": Fraction(4), "five": Fraction(5),
                 "six": Fraction(6), "half": Fraction(1, 2), "a half": Fraction(1, 2)}
_SIG_AMOUNT = re.compile(
    rf"(?<![\d./]){_NUMBER}(?:\s{{0,2}}(?:-|to)\s{{0,2}}{_NUMBER})?\s{{0,2}}"
    r"(mg|mcg|micrograms?|milligrams?|ml|tabs?|tablets?|caps?|capsules?|pills?)\b")
_SIG_EVERY_HOURS = re.compile(r"\b(?:q|every)\s{0,2}(\d{1,2})(?:\s{0,2}(?:-|to)\s{0,2}(\d{1,2}))?\s{0,2}"
                              r"(?:h|hr|hrs|hours?)\b")
_SIG_TIMES = re.compile(rf"\b{_NUMBER}(?:\s{{0,2}}(?:-|to)\s{{0,2}}{_NUMBER})?\s{{0,2}}(?:x|times?)\s{{0,2}}"
                        r"(?:a|per|each|/)?\s{0,2}(day|daily|d|week|weekly|wk)\b")
_SIG_WORDS: tuple[tuple[re.Pattern[str], Fraction], ...] = (
    (re.compile(r"\b(every other day|alternate days|qod)\b"), Fraction(1, 2)),
    (re.compile(r"\b(once a week|once weekly|weekly|every week)\b"), Fraction(1, 7)),
    (re.compile(r"\b(four times|qid|q\.i\.d\.?)"), Fraction(4)),
    (re.compile(r"\b(three times|thrice|tid|t\.i\.d\.?)"), Fraction(3)),
    (re.compile(r"\b(twice|bid|b\.i\.d\.?)"), Fraction(2)),
    (re.compile(r"\b(once daily|once a day|daily|every day|each day|qd|od|nightly|at night|at bedtime|bedtime|qhs"
                r"|hs|every morning|in the morning|qam|every evening|in the evening|qpm|once)\b"), Fraction(1)),
)
_SIG_PRN = re.compile(r"\b(prn|as needed|as required|when needed|if needed)\b")


def _number(text: str) -> Fraction:
    if text in _WORD_NUMBERS:
        return _WORD_NUMBERS[text]
    return Fraction(text)


def read_sig(text: str) -> Sig:
    """Read directions such as "5 mg twice daily", "take 1-2 tablets q8h as needed" (docs/clinical-reference.md §7b).

    Ranges give their high value; "every 4–6 hours" gives the most doses a day (every 4 hours). Only the
    first :data:`MAX_SIG_TEXT` characters are read and every quantifier is bounded."""
    lowered = text[:MAX_SIG_TEXT].lower()
    amount: Fraction | None = None
    unit: str | None = None
    match = _SIG_AMOUNT.search(lowered)
    if match is not None:
        amount = _number(match.group(2) or match.group(1))
        unit = match.group(3)
    per_day: Fraction | None = None
    frequency_text = ""
    every = _SIG_EVERY_HOURS.search(lowered)
    times = _SIG_TIMES.search(lowered)
    if every is not None and int(every.group(1)) > 0:
        per_day = Fraction(24, int(every.group(1)))
        frequency_text = every.group(0)
    elif times is not None:
        count = _number(times.group(2) or times.group(1))
        per_day = count / 7 if times.group(3) in ("week", "weekly", "wk") else count
        frequency_text = times.group(0)
    else:
        for pattern, value in _SIG_WORDS:
            found = pattern.search(lowered)
            if found is not None:
                per_day, frequency_text = value, found.group(0)
                break
    return Sig(amount, unit, per_day, frequency_text, _SIG_PRN.search(lowered) is not None)
