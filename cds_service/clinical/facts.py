"""Everything the rules read about one evaluation, computed once (architecture.md "clinical facts")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar, cast

from cds_service.clinical.history import BenzodiazepineHistory, benzodiazepine_history, course_de
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
from cds_service.clinical.record import Evaluation
from cds_service.clinical.terminology import Terminology

NEW_DRUG_DAYS = 90
"""A drug with no order, fill or statement in this many days before a draft is new ("added", "started")."""
T = TypeVar("T")


@dataclass(frozen=True)
class ClinicalFacts:
    evaluation: Evaluation
    terminology: Terminology

    @cached_property
    def courses(self) -> MedicationCourses:
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
        """Benzodiazepine history under the configured equivalence table."""
        return self.history_under(self.evaluation.settings.equivalence_table)

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
        it (docs/clinical-reference.md §9.6): with any, the draft continues a drug rather than adding one."""
        today = self.evaluation.at.date()
        since = today - timedelta(days=days)
        return tuple(c for c in self.courses.existing
                     if c.product.ingredient == draft.product.ingredient and c.start is not None and c.start <= today
                     and (c.end is None or c.end > since))

    @property
    def table(self) -> EquivalenceTable:
        return self.evaluation.settings.equivalence_table
