"""Everything the rules read about one evaluation, computed once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any, TypeVar, cast

from cds_service.clinical.equivalence import table_with_factor
from cds_service.clinical.history import (
    BenzodiazepineHistory,
    benzodiazepine_history,
    counts_toward_taper,
    course_de,
    replaced_by_draft,
)
from cds_service.clinical.medications import MedicationCourse, MedicationCourses, medication_courses
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.patient import (
    Measurement,
    PatientFacts,
    RenalFunction,
    measurements,
    patient_facts,
    pregnancy_evidence,
    renal_function,
)
from cds_service.clinical.profiles import shared_thresholds
from cds_service.clinical.record import Evaluation
from cds_service.clinical.terminology import Terminology

NEW_DRUG_DAYS = shared_thresholds().new_drug_days
"""A drug with no order, fill or statement in this many days before a draft is new ("added", "started")."""
T = TypeVar("T")


@dataclass(frozen=True)
class ClinicalFacts:
    evaluation: Evaluation
    terminology: Terminology
    given_courses: MedicationCourses | None = None
    """For a later phase of a draft: the record with the earlier phases as orders (see :attr:`phases`)."""
    phase_start: date | None = None
    """For a later phase of a draft: the day it starts (the facts are as of that day)."""

    @cached_property
    def courses(self) -> MedicationCourses:
        if self.given_courses is not None:
            return self.given_courses
        record = self.evaluation.record
        return medication_courses(
            record.medication_requests,
            record.medication_dispenses,
            record.medication_statements,
            record.draft_orders,
            self.terminology,
            self.evaluation.at,
        )

    @cached_property
    def evaluated_drafts(self) -> tuple[MedicationCourse, ...]:
        """Draft courses the call asks about (all drafts, or the order-select selections)."""
        wanted = self.evaluation.evaluated_order_ids
        return tuple(d for d in self.courses.drafts if wanted is None or d.resource_id in wanted)

    @property
    def phases(self) -> tuple[ClinicalFacts, ...]:
        """These facts, then the facts as of each later phase of the evaluated benzodiazepine draft
        (docs/clinical-reference.md §7c: every phase is a step judged at its own start). In each, the earlier
        phases are orders that have run their course, so the step, its interval and its windows are the phase's."""
        return (self, *self._later_phases)

    @cached_property
    def _later_phases(self) -> tuple[ClinicalFacts, ...]:
        # kept apart from ``self``: facts holding themselves would be a reference cycle, and the whole record of a
        # call (thousands of courses in a long history) would wait for the garbage collector instead of being freed
        # when the call ends
        draft = next((d for d in self.evaluated_drafts if d.phases and counts_toward_taper(d) and not d.ends_order),
                     None)
        if draft is None:
            return ()
        today = self.evaluation.at.date()
        drafts = self.courses.drafts
        record = [c.ending_on(today) if any(replaced_by_draft(d, c, today) for d in drafts) else c
                  for c in self.courses.existing]
        record += [d._replace(kind="order", start=today, settled=True, phases=()) for d in drafts
                   if d is not draft and not d.ends_order]
        facts = []
        earlier: list[MedicationCourse] = []  # the phases before the one judged, as orders that have run their course
        began, dose = today, draft.dose
        for phase in draft.phases:
            if earlier:  # the phase before is in effect until this one replaces it
                earlier[-1] = earlier[-1].ending_on(began)
            earlier.append(draft._replace(kind="order", start=began, end=None, dose=dose, replaces=None,
                                   settled=True, phases=()))
            current = draft._replace(start=phase.start, dose=phase.dose, replaces=None, phases=(),
                              continues=earlier[-1])
            at = datetime.combine(phase.start, time.min, tzinfo=self.evaluation.at.tzinfo)
            evaluation = replace(self.evaluation, at=at)
            facts.append(ClinicalFacts(evaluation, self.terminology,
                                       MedicationCourses(tuple(record + earlier), (current,)), phase_start=phase.start))
            began, dose = phase.start, phase.dose
        return tuple(facts)

    @cached_property
    def _memo(self) -> dict[Any, Any]:
        return {}

    def once(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``key`` is asked for in this evaluation, the same value after: what every
        rule reads (the histories, the step assessment) is built once per call."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    @property
    def history(self) -> BenzodiazepineHistory:
        """Benzodiazepine history under :attr:`table`."""
        return self.history_under(self.table)

    def history_under(self, table: EquivalenceTable) -> BenzodiazepineHistory:
        """Built once per call and table."""
        return self.once(("history", table), lambda: benzodiazepine_history(
            self.courses, self.evaluation.at, lambda course: course_de(course, self.terminology, table)))

    @cached_property
    def patient(self) -> PatientFacts:
        record = self.evaluation.record
        return patient_facts(record.patient, record.conditions, self.terminology)

    @cached_property
    def measurements(self) -> tuple[Measurement, ...]:
        return measurements(self.evaluation.record.observations, self.terminology)

    @cached_property
    def renal_function(self) -> RenalFunction | None:
        return renal_function(self.patient, self.measurements, self.evaluation.at.date())

    @cached_property
    def pregnancy(self) -> str | None:
        """Why the patient counts as pregnant, or ``None``."""
        return pregnancy_evidence(self.patient, self.measurements, self.evaluation.at.date())

    def continuing(self, draft: MedicationCourse, days: int = NEW_DRUG_DAYS) -> tuple[MedicationCourse, ...]:
        """Orders, fills and statements of the draft's ingredient that covered any day of the ``days`` before
        it (docs/clinical-reference.md §7g): with any, the draft continues a drug rather than adding one."""
        today = self.evaluation.at.date()
        since = today - timedelta(days=days)
        return tuple(c for c in self.courses.existing
                     if c.product.ingredient == draft.product.ingredient and c.start is not None and c.start <= today
                     and (c.end is None or c.end > since))

    @property
    def configured_table(self) -> EquivalenceTable:
        return self.evaluation.settings.equivalence_table

    @cached_property
    def table(self) -> EquivalenceTable:
        """The table every diazepam-equivalent is stated in: the configured one, unless it has no factor for a
        benzodiazepine of this step and the other table has (docs/clinical-reference.md §8c: a change of that
        drug alone is then judged by its own dose ratio — the same under every table — and a switch uses the
        other table; the cards say which factor is missing)."""
        return table_with_factor(self.terminology, self._involved, self.configured_table)

    def missing_factors(self, table: EquivalenceTable) -> tuple[str, ...]:
        """Benzodiazepines taken now or drafted that ``table`` has no equivalence factor for."""
        return tuple(sorted(i for i in self._involved if self.terminology.equivalent_oral_dose_mg(i, table) is None))

    @cached_property
    def _involved(self) -> frozenset[str]:
        """The benzodiazepines taken now or drafted."""
        today = self.evaluation.at.date()
        return frozenset(c.product.ingredient for c in (*self.courses.existing, *self.courses.drafts)
                         if (c.kind == "draft" or c.covers(today)) and counts_toward_taper(c))
