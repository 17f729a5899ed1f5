"""From FHIR medication resources to medication courses: what, how much per day, and when.

A *course* is one source of exposure — an order, a fill, a patient statement, or a draft order of the
current call — with its product, daily dose and coverage interval. History and rules reason about
courses, never about raw FHIR.

Coverage intervals (docs/clinical-reference.md §6a/§6b, CDC opioid CDS "Prescription Relevant Period"):
- active order: from ``authoredOn`` (or the first dosage bounds start) with no end; a later order naming it in
  ``priorPrescription``, or of the same ingredient from the same requester or after its supply ran out,
  ends it (see history.py);
- completed/stopped order: until ``authoredOn`` + expected supply × (1 + repeats), else 30 days —
  an assumption, because such orders rarely carry an end date;
- dispense: ``whenHandedOver`` + ``daysSupply``;
- statement: its effective period, open-ended while ``active``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Literal, NamedTuple

from cds_service.clinical.dosing import DoseReader, DoseResult, days_in, exact, phase_bounds
from cds_service.clinical.model import Product
from cds_service.clinical.resources import MedicationDispense, MedicationRequest, MedicationStatement
from cds_service.clinical.terminology import Terminology
from cds_service.clinical.wording import plain_text

CourseKind = Literal["order", "dispense", "statement", "draft"]

MAX_PHASES = 12
"""Later phases of one draft that are judged (each is a step, §7c); a longer schedule is judged up to here."""
ASSUMED_SUPPLY_DAYS = 30
"""Supply assumed for a completed or stopped order that states none (one month, the usual fill)."""

_ENDED_STATUSES = {"completed", "stopped", "cancelled"}
_IGNORED_STATUSES = {"entered-in-error", "not-taken", "intended"}


class DraftPhase(NamedTuple):
    """A later phase of a multi-phase draft: the day it starts and the daily dose from then on."""

    start: date
    dose: DoseResult


class MedicationCourse(NamedTuple):
    """One source of exposure (see the module's docstring). Immutable: a changed course is a copy
    (``course._replace(...)``). A named tuple rather than a frozen dataclass: the history of 3,000 earlier orders
    builds and copies thousands of courses in a call, and a frozen dataclass sets each of the 15 fields through
    ``object.__setattr__`` and keeps a ``__dict__`` beside each course for the garbage collector to walk — the
    named tuple took 10 % off such a call (benchmarks/record_layer.py)."""

    kind: CourseKind
    resource_id: str | None
    product: Product
    status: str
    start: date | None
    end: date | None
    """Exclusive end of coverage; ``None`` while the course is open-ended."""
    dose: DoseResult
    replaces: str | None = None
    """Id of the MedicationRequest this one replaces (``priorPrescription``)."""
    inpatient: bool = False
    requester: str | None = None
    """Who ordered it (``requester`` reference), when the order says."""
    supply_end: date | None = None
    """When the supply an order authorises runs out (expected supply × (1 + repeats)); ``None`` if not stated."""
    quantity: Fraction | None = None
    """Units dispensed (fills only)."""
    settled: bool = False
    """Coverage already final (an earlier phase of a draft, judged as history): it ends no other order."""
    phases: tuple[DraftPhase, ...] = ()
    """Drafts: each later phase (``sequence``, ``boundsPeriod``, ``boundsDuration``)."""
    continues: MedicationCourse | None = None
    """A later phase of a draft, judged at its own start (docs/clinical-reference.md §7c): the course of the phase
    before it, which it replaces — and no other order."""

    @property
    def ends_order(self) -> bool:
        """A draft with status stopped/cancelled ends the order it names (docs/service-contract.md §4b)."""
        return self.kind == "draft" and self.status in ("stopped", "cancelled")

    def ending_on(self, day: date) -> MedicationCourse:
        """This course, its coverage ending on ``day`` (``_replace(end=day)``, a third of its cost: a long history
        ends thousands of orders)."""
        fields = list(self)
        fields[_END] = day
        return MedicationCourse._make(fields)

    def covers(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)

    @property
    def label(self) -> str:
        """How a card names this order: the product as written — never a resource id or a parser's note
        (docs/clinical-reference.md §6f); an order recognised from its name alone says so in words."""
        by_name = " (the order names the drug only in text)" if self.product.matched_by == "name" else ""
        return f"{plain_text(self.product.display)}{by_name}"


_END = MedicationCourse._fields.index("end")


def reference_id(reference: Any) -> str | None:
    """The id part of a FHIR Reference (``MedicationRequest/123``, a full URL, or ``urn:uuid:...``)."""
    target = getattr(reference, "reference", None)
    if not isinstance(target, str) or not target:
        return None
    return target.rstrip("/").split("/")[-1].removeprefix("urn:uuid:").removeprefix("#")


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    return None


def _duration_days(duration: Any) -> Fraction | None:
    if duration is None or duration.value is None:
        return None
    return days_in(duration.value, duration.code or duration.unit or "d")


def _medication_concept(resource: Any) -> tuple[list[Any], str | None]:
    concept = getattr(resource, "medicationCodeableConcept", None)
    codings: list[Any] = list(concept.coding or []) if concept is not None else []
    text = concept.text if concept is not None else None
    reference = getattr(resource, "medicationReference", None)
    if reference is not None:
        target = reference.reference or ""
        for contained in resource.contained or []:
            if contained.resourceType == "Medication" and f"#{contained.id}" == target and contained.code:
                codings.extend(contained.code.coding or [])
                text = text or contained.code.text
        text = text or reference.display
    return codings, text


def product_of(resource: Any, terminology: Terminology) -> Product | None:
    codings, text = _medication_concept(resource)
    return terminology.product(codings, text)


def _is_inpatient(order: MedicationRequest) -> bool:
    if not order.category:  # most orders: no generator to start
        return False
    return any(
        (coding.code or "").lower() == "inpatient"
        for category in order.category or [] for coding in category.coding or []
    )


def _amount(quantity: Any) -> Fraction | None:
    return exact(quantity.value) if quantity is not None and quantity.value is not None else None


def order_course(order: MedicationRequest, product: Product, at: datetime, *, draft: bool,
                 doses: DoseReader | None = None) -> MedicationCourse:
    read = (doses or DoseReader()).daily_dose
    start = as_date(order.authoredOn)
    supply_days = _duration_days(order.dispenseRequest.expectedSupplyDuration) if order.dispenseRequest else None
    quantity = _amount(order.dispenseRequest.quantity) if order.dispenseRequest else None
    dose = read(order.dosageInstruction or [], product, at, start=start, dispensed_quantity=quantity,
                supply_days=supply_days)
    end: date | None = None
    repeats = order.dispenseRequest.numberOfRepeatsAllowed or 0 if order.dispenseRequest else 0
    supply_end = start + timedelta(days=int(supply_days * (1 + repeats))) if supply_days and start else None
    if not draft and order.status in _ENDED_STATUSES and start is not None:
        end = supply_end or start + timedelta(days=ASSUMED_SUPPLY_DAYS)
    phases: tuple[DraftPhase, ...] = ()
    if draft and len(order.dosageInstruction or []) > 1:
        starts = sorted({begin.date() for begin, _ in phase_bounds(order.dosageInstruction or [], start)
                         if begin is not None and begin.date() > at.date()})[:MAX_PHASES]
        phases = tuple(DraftPhase(day, read(order.dosageInstruction or [], product, as_datetime(day) or at,
                                            start=start, dispensed_quantity=quantity, supply_days=supply_days))
                       for day in starts)
    return MedicationCourse(
        kind="draft" if draft else "order",
        resource_id=order.id,
        product=product,
        status=order.status or "unknown",
        start=start,
        end=end,
        dose=dose,
        replaces=reference_id(order.priorPrescription),
        inpatient=_is_inpatient(order),
        requester=getattr(order.requester, "reference", None) or getattr(order.requester, "display", None),
        supply_end=supply_end,
        phases=phases,
    )


def dispense_course(dispense: MedicationDispense, product: Product, at: datetime,
                    doses: DoseReader | None = None) -> MedicationCourse | None:
    start = as_date(dispense.whenHandedOver) or as_date(dispense.whenPrepared)
    supply_days = _duration_days(dispense.daysSupply)
    if start is None or supply_days is None:
        return None  # a fill without a date or a supply says nothing about when the drug was taken
    quantity = _amount(dispense.quantity)
    dose = (doses or DoseReader()).daily_dose(dispense.dosageInstruction or [], product, at, start=start,
                                              dispensed_quantity=quantity, supply_days=supply_days)
    return MedicationCourse(
        kind="dispense",
        resource_id=dispense.id,
        product=product,
        status=dispense.status or "unknown",
        start=start,
        end=start + timedelta(days=int(supply_days)),
        dose=dose,
        quantity=quantity,
    )


def statement_course(statement: MedicationStatement, product: Product, at: datetime,
                     doses: DoseReader | None = None) -> MedicationCourse | None:
    period = statement.effectivePeriod
    start = as_date(period.start) if period else as_date(statement.effectiveDateTime)
    end = as_date(period.end) if period else None
    if start is None and statement.status != "active":
        return None
    if statement.status in ("completed", "stopped") and end is None and start is not None:
        end = start + timedelta(days=ASSUMED_SUPPLY_DAYS)
    return MedicationCourse(
        kind="statement",
        resource_id=statement.id,
        product=product,
        status=statement.status or "unknown",
        start=start,
        end=end,
        dose=(doses or DoseReader()).daily_dose(statement.dosage or [], product, at, start=start),
    )


@dataclass(frozen=True)
class MedicationCourses:
    existing: tuple[MedicationCourse, ...]
    """Orders, fills and statements already in the record."""
    drafts: tuple[MedicationCourse, ...]
    """Draft orders of this call whose product is known to the terminology."""


def medication_courses(
    requests: tuple[MedicationRequest, ...],
    dispenses: tuple[MedicationDispense, ...],
    statements: tuple[MedicationStatement, ...],
    drafts: tuple[MedicationRequest, ...],
    terminology: Terminology,
    at: datetime,
) -> MedicationCourses:
    doses = DoseReader()
    existing: list[MedicationCourse] = []
    for order in requests:
        product = product_of(order, terminology)
        # Unsigned drafts found by the history search are this session's orders, not history.
        if product is None or order.status in _IGNORED_STATUSES or order.status == "draft":
            continue
        existing.append(order_course(order, product, at, draft=False, doses=doses))
    for dispense in dispenses:
        product = product_of(dispense, terminology)
        if product is not None and dispense.status not in ("entered-in-error", "cancelled", "declined"):
            course = dispense_course(dispense, product, at, doses)
            if course is not None:
                existing.append(course)
    for statement in statements:
        product = product_of(statement, terminology)
        if product is not None and statement.status not in _IGNORED_STATUSES:
            course = statement_course(statement, product, at, doses)
            if course is not None:
                existing.append(course)
    draft_courses = []
    for draft in drafts:
        product = product_of(draft, terminology)
        if product is not None:
            draft_courses.append(order_course(draft, product, at, draft=True, doses=doses))
    return MedicationCourses(existing=tuple(existing), drafts=tuple(draft_courses))
