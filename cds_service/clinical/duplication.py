"""Which drafts add a benzodiazepine on top of another that stays (docs/clinical-reference.md §11g): a fact about
the call that the ``benzodiazepine-duplication`` card states and the ``older-adult`` card weighs, so it lives here
rather than in either rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cds_service.clinical.dosing import DailyDose
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.history import counts_toward_taper, course_de, ends_earlier_order, replaced_by_draft
from cds_service.clinical.medications import MedicationCourse


@dataclass(frozen=True)
class Duplication:
    added: MedicationCourse
    """The draft that starts a benzodiazepine."""
    others: tuple[MedicationCourse, ...]
    """The benzodiazepines that stay active and unchanged beside it."""


def duplications(facts: ClinicalFacts) -> tuple[Duplication, ...]:
    """The evaluated drafts that add a benzodiazepine on top of another that stays (computed once per call)."""
    return facts.once("benzodiazepine-duplication", lambda: tuple(_duplications(facts)))


def _duplications(facts: ClinicalFacts) -> Iterator[Duplication]:
    today = facts.evaluation.at.date()
    drafts = facts.courses.drafts
    touched = {d.product.ingredient for d in drafts if counts_toward_taper(d)}
    taken = facts.history.current_ingredients  # what the patient takes today, superseded orders ended
    covering = [c for c in facts.courses.existing if c.covers(today) and counts_toward_taper(c)
                and c.product.ingredient in taken and course_de(c, facts.terminology, facts.table) != 0]
    existing = [c for c in covering if not _superseded(c, covering)]
    for draft in facts.evaluated_drafts:
        if not counts_toward_taper(draft) or draft.ends_order or draft.replaces is not None:
            continue
        if any(replaced_by_draft(draft, course, today) for course in existing):
            continue  # it changes an order the patient has: a dose step, judged by the rate rules
        others: dict[str, MedicationCourse] = {}
        for course in existing:
            ingredient = course.product.ingredient
            if ingredient != draft.product.ingredient:
                # another drug, unless a draft of the call changes or stops it (a cross-taper); its order is
                # named rather than a fill of it
                if ingredient not in touched and (ingredient not in others or course.kind == "order"):
                    others[ingredient] = course
            elif course.kind == "order" and not as_needed(draft):
                # a second scheduled order of the same drug beside one that stays (§7a keeps as-needed apart)
                others.setdefault(ingredient, course)
        if others:
            yield Duplication(draft, tuple(others.values()))


def _superseded(order: MedicationCourse, covering: list[MedicationCourse]) -> bool:
    """An order a later one of the record replaced (it names it, or ends it by §7a), though still marked active."""
    if order.kind != "order":
        return False
    return any(later is not order and later.kind == "order" and later.product.ingredient == order.product.ingredient
               and ((order.resource_id is not None and later.replaces == order.resource_id)
                    or (later.start is not None and order.start is not None and later.start > order.start
                        and ends_earlier_order(later, order, later.start)))
               for later in covering)


def as_needed(course: MedicationCourse) -> bool:
    """An as-needed (PRN) order: kept apart from a scheduled one of the same drug (docs/clinical-reference.md §7a)."""
    return isinstance(course.dose, DailyDose) and course.dose.as_needed
