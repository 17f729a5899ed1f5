"""What the clinical core is given: the patient's parsed record and the call being evaluated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.resources import (
    Condition,
    MedicationDispense,
    MedicationRequest,
    MedicationStatement,
    Observation,
    Patient,
)


def _no_observations() -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    return (), ()


@dataclass(frozen=True)
class OpioidHistory:
    """Orders, fills and statements that name an opioid or naloxone and no benzodiazepine or adjunct."""

    requests: tuple[MedicationRequest, ...] = ()
    dispenses: tuple[MedicationDispense, ...] = ()
    statements: tuple[MedicationStatement, ...] = ()
    notes: tuple[str, ...] = ()
    """What could not be read."""


def _no_opioid_history() -> OpioidHistory:
    return OpioidHistory()


@dataclass(frozen=True)
class PatientRecord:
    """The parts of the FHIR record the rules read, already filtered to relevant codes."""

    patient: Patient | None
    medication_requests: tuple[MedicationRequest, ...]
    medication_dispenses: tuple[MedicationDispense, ...]
    medication_statements: tuple[MedicationStatement, ...]
    conditions: tuple[Condition, ...]
    draft_orders: tuple[MedicationRequest, ...]
    """Every draft medication order of the call (R4 shape), evaluated or not."""
    draft_json: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The drafts as sent (R4 shape) by id: an ``update`` suggestion returns the whole resource, changed."""
    notes: tuple[str, ...] = ()
    """What could not be read when the record was built (see :attr:`incomplete`)."""
    read_observations: Callable[[], tuple[tuple[Observation, ...], tuple[str, ...]]] = _no_observations
    """Parses the observations (and says which could not be read) on first use: only renal dosing and
    pregnancy read them, and most calls need neither (parse only what the rules need)."""

    read_opioid_history: Callable[[], OpioidHistory] = _no_opioid_history
    """Parses the opioid and naloxone history on first use: only the opioid-with-benzodiazepine card reads it,
    and only when the call orders an opioid, a benzodiazepine or a Z-drug; a long opioid history costs other
    calls nothing."""

    @cached_property
    def opioid_history(self) -> OpioidHistory:
        return self.read_opioid_history()

    @cached_property
    def _observations_read(self) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
        return self.read_observations()

    @property
    def observations(self) -> tuple[Observation, ...]:
        return self._observations_read[0]

    @property
    def incomplete(self) -> tuple[str, ...]:
        """Plain-language notes on data that could not be read; cards whose answer depends on them repeat them.
        An unreadable observation (or opioid record) counts only once a rule has read it, so the engine reads this
        once every rule has run (``EngineResult.data_notes``), never before."""
        read_late = self._observations_read[1] if "_observations_read" in self.__dict__ else ()
        opioid_notes = self.opioid_history.notes if "opioid_history" in self.__dict__ else ()
        return self.notes + read_late + opioid_notes


@dataclass(frozen=True)
class EvaluationSettings:
    profile: str = "summary"
    """``summary`` (the seed guidance) or ``joint-2025`` (docs/clinical-reference.md §5)."""
    equivalence_table: EquivalenceTable = "ashton"
    taper_plan_url: str | None = None
    """Absolute URL of the taper-plan page; cards whose advice involves a schedule link to it."""


@dataclass(frozen=True)
class Evaluation:
    """One hook call as the clinical core sees it."""

    patient_id: str
    record: PatientRecord
    at: datetime
    """Reference time t: the evaluated draft's authoredOn, else the server's time (docs/service-contract.md §4)."""
    evaluated_order_ids: frozenset[str] | None
    """Draft orders the call asks about (order-select ``selections``); ``None`` means all drafts."""
    settings: EvaluationSettings = EvaluationSettings()
