"""Patient facts the rules read: age and coded problems (clinical.md §6b, §3).

A condition counts as *current* unless it is refuted, entered in error, or its clinical status says it
is over (inactive, resolved, remission). History-type triggers (withdrawal seizures) count in any
clinical status (§6b "Withdrawal-seizure history": "any clinicalStatus").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.patient import Patient

from cds_service.clinical.medications import as_date
from cds_service.clinical.terminology import Terminology

_OVER = {"inactive", "resolved", "remission"}
_NOT_TRUE = {"refuted", "entered-in-error"}


def _status(concept: object) -> str | None:
    for coding in getattr(concept, "coding", None) or []:
        if coding.code:
            return str(coding.code)
    return None


@dataclass(frozen=True)
class CodedProblem:
    concept: str
    display: str
    codes: tuple[str, ...]
    current: bool


@dataclass(frozen=True)
class PatientFacts:
    birth_date: date | None
    problems: tuple[CodedProblem, ...]

    def age_on(self, day: date) -> int | None:
        """Age in whole years on ``day``; ``None`` without a birth date (clinical.md §8.4: said, not guessed)."""
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)

    def current(self, concept: str) -> tuple[CodedProblem, ...]:
        return tuple(p for p in self.problems if p.concept == concept and p.current)

    def ever(self, concept: str) -> tuple[CodedProblem, ...]:
        return tuple(p for p in self.problems if p.concept == concept)


def patient_facts(patient: Patient | None, conditions: Iterable[Condition], terminology: Terminology) -> PatientFacts:
    problems = []
    for condition in conditions:
        if _status(condition.verificationStatus) in _NOT_TRUE or condition.code is None:
            continue
        codings = list(condition.code.coding or [])
        codes = tuple(f"{c.code}" for c in codings if c.code)
        display = condition.code.text or next((c.display for c in codings if c.display), None) or ", ".join(codes)
        current = _status(condition.clinicalStatus) not in _OVER
        for concept in sorted(terminology.condition_concepts(codings)):
            problems.append(CodedProblem(concept, display, codes, current))
    return PatientFacts(birth_date=as_date(patient.birthDate) if patient else None, problems=tuple(problems))
