"""The FHIR R4 elements the rules read, as typed records: the one model of a patient's record the clinical core sees.

Each resource keeps only the elements a rule, the dose reader or the history reads (and the elements FHIR requires,
so that a resource missing one is not taken for a valid one), with FHIR's constraints on them: the ``id`` and ``code``
patterns, strings not empty, the ``date``, ``dateTime``, ``instant`` and ``time`` formats (real dates and times),
the integer ranges, a ``decimal`` as a JSON number, a choice element (``value[x]`` …) given once, and the required
value sets of the codes the rules compare (statuses, intent, gender, units of time, event timing). FHIR R4 datatypes: https://hl7.org/fhir/R4/datatypes.html.

The parser (``cds_service/fhir/parse.py``) validates a resource against these types; one that they refuse is
validated, repaired or skipped as before by the complete FHIR models of ``fhir.resources`` and, once read, copied
into the same types. Either way a rule reads the same values: a date or dateTime as ``date``, ``datetime`` (with
its offset) or, for a partial date or a leap second, the text; a decimal as a ``Decimal`` of the digits sent; a
missing element or list as ``None``. Each such value is kept as sent (``authored_on_text``, ``number`` …) and
read through a property of its FHIR name (``authoredOn``, ``value`` …).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from msgspec import Meta, Struct, field

Id = Annotated[str, Meta(pattern=r"^[A-Za-z0-9\-.]{1,64}\Z")]
"""FHIR ``id``: 1–64 letters, digits, ``-`` and ``.``."""
Code = Annotated[str, Meta(pattern=r"^[^\s]+(\s[^\s]+)*\Z")]
"""FHIR ``code``: no leading, trailing or repeated whitespace."""
String = Annotated[str, Meta(min_length=1)]
"""FHIR ``string``: not empty. (Its pattern also refuses a string of nothing but form feeds, vertical tabs or other
Unicode spaces, which no client sends: checking it would double the cost of reading a record's text.)"""
Uri = str
"""FHIR ``uri`` (its pattern ``\\S*`` admits every string)."""
PositiveInt = Annotated[int, Meta(ge=1, le=2_147_483_647)]
UnsignedInt = Annotated[int, Meta(ge=0, le=2_147_483_647)]
Integer = Annotated[int, Meta(ge=-2_147_483_648, le=2_147_483_647)]

_DATE = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|[+\-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
DateText = Annotated[str, Meta(pattern=rf"^{_DATE}\Z")]
"""FHIR ``date``: YYYY, YYYY-MM or YYYY-MM-DD."""
DateTimeText = Annotated[str, Meta(pattern=(
    r"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    rf"(T{_CLOCK}{_ZONE})?)?)?\Z"))]
"""FHIR ``dateTime``: a date, partial or whole, or a date and time with its offset."""
InstantText = Annotated[str, Meta(pattern=(
    rf"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T{_CLOCK}"
    rf"{_ZONE}\Z"))]
"""FHIR ``instant``: a date and time to the second, with its offset."""
TimeText = Annotated[str, Meta(pattern=rf"^{_CLOCK}\Z")]
"""FHIR ``time``: hh:mm:ss, without an offset."""

Moment = datetime | date | str
"""A FHIR date or dateTime as read: a ``datetime`` with its offset, a ``date``, or (a partial date, or a leap
second, which neither can hold) the text."""


# A code bound to a required value set is one of its codes: a ``Literal``, which msgspec checks by a lookup — a
# pattern of alternatives would run a regular expression for every status, intent and unit of a long history.
RequestStatus = Literal["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
                        "unknown"]
RequestIntent = Literal["proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                        "instance-order", "option"]
DispenseStatus = Literal["preparation", "in-progress", "cancelled", "on-hold", "completed", "entered-in-error",
                         "stopped", "declined", "unknown"]
StatementStatus = Literal["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown",
                          "not-taken"]
ObservationStatus = Literal["registered", "preliminary", "final", "amended", "corrected", "cancelled",
                            "entered-in-error", "unknown"]
Gender = Literal["male", "female", "other", "unknown"]
Comparator = Literal["<", "<=", ">=", ">"]
UnitOfTime = Literal["s", "min", "h", "d", "wk", "mo", "a"]
DayOfWeek = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EventTiming = Literal["MORN", "MORN.early", "MORN.late", "NOON", "AFT", "AFT.early", "AFT.late", "EVE", "EVE.early",
                      "EVE.late", "NIGHT", "PHS", "HS", "WAKE", "C", "CM", "CD", "CV", "AC", "ACM", "ACD", "ACV", "PC",
                      "PCM", "PCD", "PCV"]


Number = int | float
"""A FHIR ``decimal`` as sent: a JSON number (a string or a boolean is refused)."""


@lru_cache(maxsize=4096, typed=True)
def decimal(number: Number) -> Decimal:
    """A FHIR ``decimal`` as read: the digits it was written with (``0.1`` → ``Decimal('0.1')``, ``30.0`` →
    ``Decimal('30.0')``), as ``fhir.resources`` reads it. Doses recur across a record: each distinct one is
    converted once."""
    return Decimal(str(number)) if isinstance(number, float) else Decimal(number)


@lru_cache(maxsize=4096)
def moment(text: str) -> Moment:
    """A FHIR date, dateTime or instant (already matching its pattern) as read: ``2024`` and ``2024-05`` stay text,
    ``2024-05-01`` is a ``date``, ``2024-05-01T08:00:00+02:00`` a ``datetime``; ``ValueError`` if it is no real date
    or time (``2024-02-30``). Dates recur across a record's resources: each distinct text is read once."""
    if len(text) <= 7:
        return text
    if len(text) == 10:
        return date.fromisoformat(text)
    if text[17:19] == "60":  # a leap second: checked as second 59, kept as the text (datetime cannot hold it)
        datetime.fromisoformat(f"{text[:17]}59{text[19:]}")
        return text
    return datetime.fromisoformat(text)


@lru_cache(maxsize=1024)
def clock(text: str) -> time | str:
    """A FHIR time (already matching its pattern) as a ``time``, or the text of a leap second."""
    if text[6:8] == "60":
        return text
    return time.fromisoformat(text)


class Element(Struct, frozen=True, kw_only=True, gc=False):
    """Values, comparable and hashable: a dose read once serves every order that repeats its dosage. Not tracked by
    the garbage collector (no element refers back to another), so a long history adds nothing to its passes."""


class Coding(Element, frozen=True):
    system: Uri | None = None
    code: Code | None = None
    display: String | None = None


class CodeableConcept(Element, frozen=True):
    coding: tuple[Coding, ...] | None = None
    text: String | None = None


class Reference(Element, frozen=True):
    reference: String | None = None
    display: String | None = None


class Quantity(Element, frozen=True):
    """Also a FHIR Duration, whose elements are the same."""

    number: Number | None = field(default=None, name="value")
    comparator: Comparator | None = None
    unit: String | None = None
    system: Uri | None = None
    code: Code | None = None

    @property
    def value(self) -> Decimal | None:
        return None if self.number is None else decimal(self.number)


class Range(Element, frozen=True):
    low: Quantity | None = None
    high: Quantity | None = None


class Ratio(Element, frozen=True):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class Period(Element, frozen=True):
    start_text: DateTimeText | None = field(default=None, name="start")
    end_text: DateTimeText | None = field(default=None, name="end")

    def __post_init__(self) -> None:
        _read_moments(self.start_text, self.end_text)

    @property
    def start(self) -> Moment | None:
        return None if self.start_text is None else moment(self.start_text)

    @property
    def end(self) -> Moment | None:
        return None if self.end_text is None else moment(self.end_text)


class TimingRepeat(Element, frozen=True):
    boundsDuration: Quantity | None = None
    boundsPeriod: Period | None = None
    boundsRange: Range | None = None
    frequency: PositiveInt | None = None
    frequencyMax: PositiveInt | None = None
    period_number: Number | None = field(default=None, name="period")
    period_max_number: Number | None = field(default=None, name="periodMax")
    periodUnit: UnitOfTime | None = None
    dayOfWeek: tuple[DayOfWeek, ...] | None = None
    time_of_day_text: tuple[TimeText, ...] | None = field(default=None, name="timeOfDay")
    when: tuple[EventTiming, ...] | None = None

    def __post_init__(self) -> None:
        if (self.boundsDuration is not None) + (self.boundsPeriod is not None) + (self.boundsRange is not None) > 1:
            raise ValueError(_GIVEN_TWICE)
        if self.time_of_day_text is not None:
            for text in self.time_of_day_text:
                clock(text)

    @property
    def period(self) -> Decimal | None:
        return None if self.period_number is None else decimal(self.period_number)

    @property
    def periodMax(self) -> Decimal | None:
        return None if self.period_max_number is None else decimal(self.period_max_number)

    @property
    def timeOfDay(self) -> tuple[time | str, ...] | None:
        return None if self.time_of_day_text is None else tuple(clock(text) for text in self.time_of_day_text)


class Timing(Element, frozen=True):
    repeat: TimingRepeat | None = None
    code: CodeableConcept | None = None


class DoseAndRate(Element, frozen=True):
    doseQuantity: Quantity | None = None
    doseRange: Range | None = None

    def __post_init__(self) -> None:
        if self.doseQuantity is not None and self.doseRange is not None:
            raise ValueError(_GIVEN_TWICE)


class Dosage(Element, frozen=True):
    sequence: Integer | None = None
    text: String | None = None
    timing: Timing | None = None
    asNeededBoolean: bool | None = None
    asNeededCodeableConcept: CodeableConcept | None = None
    doseAndRate: tuple[DoseAndRate, ...] | None = None
    maxDosePerPeriod: Ratio | None = None

    def __post_init__(self) -> None:
        if self.asNeededBoolean is not None and self.asNeededCodeableConcept is not None:
            raise ValueError(_GIVEN_TWICE)


class ContainedResource(Element, kw_only=True, frozen=True):
    """A contained resource: the rules read a contained Medication's code."""

    resourceType: str
    id: Id | None = None
    code: CodeableConcept | None = None


class Resource(Element, tag_field="resourceType", frozen=True):
    id: Id | None = None


class MedicationResource(Resource, frozen=True):
    contained: tuple[ContainedResource, ...] | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None

    def __post_init__(self) -> None:
        # Subclasses call this by name, and the checks of every element a long history repeats are written out,
        # not called: ``super()`` or a call with ``*args`` costs more than the check (3,000 orders: −14 % to read).
        if (self.medicationCodeableConcept is None) == (self.medicationReference is None):
            raise ValueError("medication[x] must be given once")


class DispenseRequest(Element, frozen=True):
    quantity: Quantity | None = None
    expectedSupplyDuration: Quantity | None = None
    numberOfRepeatsAllowed: UnsignedInt | None = None


class MedicationRequest(MedicationResource, tag=True, kw_only=True, frozen=True):
    status: RequestStatus
    intent: RequestIntent
    subject: Reference
    category: tuple[CodeableConcept, ...] | None = None
    authored_on_text: DateTimeText | None = field(default=None, name="authoredOn")
    requester: Reference | None = None
    reasonCode: tuple[CodeableConcept, ...] | None = None
    dosageInstruction: tuple[Dosage, ...] | None = None
    dispenseRequest: DispenseRequest | None = None
    priorPrescription: Reference | None = None

    def __post_init__(self) -> None:
        MedicationResource.__post_init__(self)
        if self.authored_on_text is not None:
            moment(self.authored_on_text)

    @property
    def authoredOn(self) -> Moment | None:
        return None if self.authored_on_text is None else moment(self.authored_on_text)


class MedicationDispense(MedicationResource, tag=True, kw_only=True, frozen=True):
    status: DispenseStatus
    quantity: Quantity | None = None
    daysSupply: Quantity | None = None
    when_prepared_text: DateTimeText | None = field(default=None, name="whenPrepared")
    when_handed_over_text: DateTimeText | None = field(default=None, name="whenHandedOver")
    dosageInstruction: tuple[Dosage, ...] | None = None

    def __post_init__(self) -> None:
        MedicationResource.__post_init__(self)
        _read_moments(self.when_prepared_text, self.when_handed_over_text)

    @property
    def whenPrepared(self) -> Moment | None:
        return None if self.when_prepared_text is None else moment(self.when_prepared_text)

    @property
    def whenHandedOver(self) -> Moment | None:
        return None if self.when_handed_over_text is None else moment(self.when_handed_over_text)


class MedicationStatement(MedicationResource, tag=True, kw_only=True, frozen=True):
    status: StatementStatus
    subject: Reference
    effective_date_time_text: DateTimeText | None = field(default=None, name="effectiveDateTime")
    effectivePeriod: Period | None = None
    dosage: tuple[Dosage, ...] | None = None

    def __post_init__(self) -> None:
        MedicationResource.__post_init__(self)
        _one_of(self.effective_date_time_text, self.effectivePeriod)
        _read_moments(self.effective_date_time_text)

    @property
    def effectiveDateTime(self) -> Moment | None:
        return None if self.effective_date_time_text is None else moment(self.effective_date_time_text)


class Extension(Element, kw_only=True, frozen=True):
    """An extension (US Core race: ``ombCategory`` codings and ``text``)."""

    url: Uri
    extension: tuple[Extension, ...] | None = None
    valueCoding: Coding | None = None
    valueString: String | None = None

    def __post_init__(self) -> None:
        _one_of(self.valueCoding, self.valueString)


class Patient(Resource, tag=True, kw_only=True, frozen=True):
    gender: Gender | None = None
    birth_date_text: DateText | None = field(default=None, name="birthDate")
    extension: tuple[Extension, ...] | None = None

    def __post_init__(self) -> None:
        _read_moments(self.birth_date_text)

    @property
    def birthDate(self) -> date | str | None:
        value = None if self.birth_date_text is None else moment(self.birth_date_text)
        assert not isinstance(value, datetime), "a FHIR date has no time"
        return value


class Condition(Resource, tag=True, kw_only=True, frozen=True):
    subject: Reference
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    onset_date_time_text: DateTimeText | None = field(default=None, name="onsetDateTime")
    onsetPeriod: Period | None = None
    recorded_date_text: DateTimeText | None = field(default=None, name="recordedDate")

    def __post_init__(self) -> None:
        _one_of(self.onset_date_time_text, self.onsetPeriod)
        _read_moments(self.onset_date_time_text, self.recorded_date_text)

    @property
    def onsetDateTime(self) -> Moment | None:
        return None if self.onset_date_time_text is None else moment(self.onset_date_time_text)

    @property
    def recordedDate(self) -> Moment | None:
        return None if self.recorded_date_text is None else moment(self.recorded_date_text)


class Observation(Resource, tag=True, kw_only=True, frozen=True):
    status: ObservationStatus
    code: CodeableConcept
    effective_date_time_text: DateTimeText | None = field(default=None, name="effectiveDateTime")
    effectivePeriod: Period | None = None
    issued_text: InstantText | None = field(default=None, name="issued")
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueString: String | None = None

    def __post_init__(self) -> None:
        _one_of(self.effective_date_time_text, self.effectivePeriod)
        _one_of(self.valueQuantity, self.valueCodeableConcept, self.valueString)
        _read_moments(self.effective_date_time_text, self.issued_text)

    @property
    def effectiveDateTime(self) -> Moment | None:
        return None if self.effective_date_time_text is None else moment(self.effective_date_time_text)

    @property
    def issued(self) -> Moment | None:
        return None if self.issued_text is None else moment(self.issued_text)


def _read_moments(*texts: str | None) -> None:
    """Refuses (``ValueError``) a date or dateTime that matches its pattern but is no real date or time."""
    for text in texts:
        if text is not None:
            moment(text)


_GIVEN_TWICE = "a choice element is given more than once"


def _one_of(*choices: object) -> None:
    """A choice element (``value[x]``, ``effective[x]`` …) is given at most once."""
    if len(choices) - choices.count(None) > 1:  # not a generator: every dosage of a long history passes here
        raise ValueError(_GIVEN_TWICE)
