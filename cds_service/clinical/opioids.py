"""Opioid and rescue-naloxone exposure, for the opioid-with-benzodiazepine card (docs/clinical-reference.md §10).

Opioid orders, fills and statements become :class:`MedicationCourse` objects with the same coverage
rules as benzodiazepines (medications.py), so "active at t" means the same thing for both; the product
of such a course names the opioid and never enters taper arithmetic (its class is ``opioid``). What the
opioid is for comes from the terminology (``OpioidProduct.role``): methadone products prescribed for
pain or for opioid use disorder count as opioid-use-disorder treatment when the order's reason or the
patient's conditions record an opioid use disorder, in any clinical status (a patient on maintenance
treatment is often coded "in remission").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from cds_service.clinical.history import ends_earlier_order
from cds_service.clinical.medications import (
    MedicationCourse,
    _medication_concept,
    as_date,
    dispense_course,
    order_course,
    statement_course,
)
from cds_service.clinical.model import OpioidProduct, Product
from cds_service.clinical.record import Evaluation
from cds_service.clinical.resources import MedicationDispense, MedicationRequest, MedicationStatement
from cds_service.clinical.terminology import Terminology

RESCUE_NALOXONE_DAYS = 365
"""Rescue naloxone ordered or dispensed within this many days counts as on hand (12 months)."""

_NOT_ORDERED = {"entered-in-error", "cancelled", "draft"}
_NOT_DISPENSED = {"entered-in-error", "cancelled", "declined"}
_NOT_TAKEN = {"entered-in-error", "not-taken", "intended"}


@dataclass(frozen=True)
class OpioidCourse:
    course: MedicationCourse
    opioid: OpioidProduct
    oud_treatment: bool
    """Medication for opioid use disorder (buprenorphine, methadone): never to be stopped for a taper."""


@dataclass(frozen=True)
class RescueNaloxone:
    what: str
    day: date
    how: str
    """``ordered``, ``dispensed`` or ``ordered in this call``."""


@dataclass(frozen=True)
class OpioidExposure:
    active: tuple[OpioidCourse, ...]
    """Opioids covering t after every draft of the call is applied (docs/service-contract.md §4b)."""
    rescue_naloxone: RescueNaloxone | None
    """The latest rescue naloxone ordered or dispensed in the last 12 months, or ordered in this call."""


@dataclass(frozen=True)
class OpioidDrafts:
    orders: tuple[OpioidCourse, ...]
    """The call's opioid drafts, stops included."""
    naloxone: tuple[RescueNaloxone, ...]
    """Rescue naloxone the call orders."""


def opioid_drafts(evaluation: Evaluation, terminology: Terminology, oud_diagnosed: bool) -> OpioidDrafts:
    """The call's opioid drafts and any rescue naloxone it orders (read before the history: cheap)."""
    at = evaluation.at
    drafts: list[OpioidCourse] = []
    naloxone: list[RescueNaloxone] = []
    for draft in evaluation.record.draft_orders:
        opioid = _opioid_of(draft, terminology)
        if opioid is None:
            continue
        if opioid.role != "rescue-naloxone":
            drafts.append(_course(order_course(draft, _product(opioid), at, draft=True), opioid, draft,
                                  oud_diagnosed, terminology))
        elif draft.status not in ("stopped", "cancelled", "entered-in-error"):
            naloxone.append(RescueNaloxone(opioid.display, at.date(), "ordered in this call"))
    return OpioidDrafts(tuple(drafts), tuple(naloxone))


def opioid_exposure(evaluation: Evaluation, terminology: Terminology, oud_diagnosed: bool,
                    drafts: OpioidDrafts) -> OpioidExposure:
    """The patient's opioids after the call's drafts (:func:`opioid_drafts`), and rescue naloxone on hand."""
    record, at = evaluation.record, evaluation.at
    today = at.date()
    opioid_orders, naloxone = drafts.orders, list(drafts.naloxone)
    existing: list[OpioidCourse] = []
    since = today - timedelta(days=RESCUE_NALOXONE_DAYS)

    def rescue(what: str, day: date | None, how: str) -> None:
        if day is not None and since <= day <= today:
            naloxone.append(RescueNaloxone(what, day, how))

    lazy = record.opioid_history
    for order in (*record.medication_requests, *lazy.requests):
        opioid = _opioid_of(order, terminology)
        if opioid is None or order.status in _NOT_ORDERED:
            continue
        if opioid.role == "rescue-naloxone":
            rescue(opioid.display, as_date(order.authoredOn), "ordered")
        else:
            existing.append(_course(order_course(order, _product(opioid), at, draft=False), opioid, order,
                                    oud_diagnosed, terminology))
    for dispense in (*record.medication_dispenses, *lazy.dispenses):
        opioid = _opioid_of(dispense, terminology)
        if opioid is None or dispense.status in _NOT_DISPENSED:
            continue
        if opioid.role == "rescue-naloxone":
            rescue(opioid.display, as_date(dispense.whenHandedOver) or as_date(dispense.whenPrepared), "dispensed")
        elif (filled := dispense_course(dispense, _product(opioid), at)) is not None:
            existing.append(_course(filled, opioid, None, oud_diagnosed, terminology))
    for statement in (*record.medication_statements, *lazy.statements):
        opioid = _opioid_of(statement, terminology)
        if opioid is None or opioid.role == "rescue-naloxone" or statement.status in _NOT_TAKEN:
            continue
        if (taken := statement_course(statement, _product(opioid), at)) is not None:
            existing.append(_course(taken, opioid, None, oud_diagnosed, terminology))
    draft_courses = [d.course for d in opioid_orders]
    active = [c for c in existing if still_active(c.course, draft_courses, today)]
    active += [d for d in opioid_orders if not d.course.ends_order]
    # An order is the authority for its drug: its fills and the patient's statements are the same therapy.
    ordered = {c.opioid.ingredient for c in active if c.course.kind in ("order", "draft")}
    return OpioidExposure(
        active=tuple(c for c in active if c.course.kind in ("order", "draft") or c.opioid.ingredient not in ordered),
        rescue_naloxone=max(naloxone, key=lambda n: n.day, default=None),
    )


def still_active(course: MedicationCourse, drafts: Iterable[MedicationCourse], day: date) -> bool:
    """Whether an existing course still covers ``day`` once the call's drafts are applied
    (docs/service-contract.md §4b): a draft ends the order it names (``priorPrescription``, or its own id for a
    stop); a draft of the same ingredient without that link replaces the ingredient's order when
    :func:`ends_earlier_order` says so (same requester, or its supply ran out); fills and statements
    of an ingredient a draft touches give way to the draft. Inpatient orders are not ambulatory use."""
    if not course.covers(day) or course.inpatient:
        return False
    same_drug = [d for d in drafts if d.product.ingredient == course.product.ingredient]
    if course.kind != "order":
        return not same_drug
    named = course.resource_id is not None and any(course.resource_id in (d.replaces, d.resource_id) for d in drafts)
    superseded = any(d.replaces is None and not d.ends_order and ends_earlier_order(d, course, day) for d in same_drug)
    return not (named or superseded)


def _course(course: MedicationCourse, opioid: OpioidProduct, order: MedicationRequest | None, oud_diagnosed: bool,
            terminology: Terminology) -> OpioidCourse:
    oud = opioid.role == "oud-treatment" or (opioid.role == "pain-or-oud" and (
        oud_diagnosed or (order is not None and _reason_is_oud(order, terminology))))
    return OpioidCourse(course, opioid, oud)


def _reason_is_oud(order: MedicationRequest, terminology: Terminology) -> bool:
    codings = [coding for concept in order.reasonCode or [] for coding in concept.coding or []]
    return "opioid-use-disorder" in terminology.condition_concepts(codings)


def _opioid_of(resource: MedicationRequest | MedicationDispense | MedicationStatement, terminology: Terminology
               ) -> OpioidProduct | None:
    codings, text = _medication_concept(resource)
    return terminology.opioid(codings, text)


def _product(opioid: OpioidProduct) -> Product:
    """The opioid as a course's product: named, never counted in a benzodiazepine total."""
    return Product(ingredient=opioid.ingredient, drug_class="opioid", strength_mg=None, unit="unit",
                   dose_form="as written", route="unknown", display=opioid.display, code=opioid.code,
                   matched_by=opioid.matched_by)
