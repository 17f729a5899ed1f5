"""A call reads each repeated FHIR element (parser) and each repeated dosage (dose reader) once. Every scenario of
``fhir_fixtures/`` must give the same record, courses, histories and findings — every number and word of every
card — as when each resource and each order is read on its own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

import cds_service.clinical.medications as medications
import cds_service.fhir.parse as parse
from cds_service.clinical.dosing import DoseReader, DoseResult, daily_dose
from cds_service.clinical.engine import evaluate_rules
from cds_service.clinical.facts import ClinicalFacts
from tests.utils import scenarios
from tests.utils.scenarios import NAMES as SCENARIOS

NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)


def scenario_facts(name: str) -> ClinicalFacts:
    return scenarios.scenario_facts(name, lambda: NOW)


class ForgetfulReader(DoseReader):
    """Reads every order's dose afresh."""

    def daily_dose(self, dosages: Sequence[Any], *args: Any, **kwargs: Any) -> DoseResult:
        return daily_dose(dosages, *args, **kwargs)


plain_parse = parse.parse_lenient


def on_its_own(model: Any, data: dict[str, Any], notes: parse.ParseNotes, memo: Any = None) -> Any:
    return plain_parse(model, data, notes)


def dumped(models: Sequence[Any]) -> list[dict[str, Any]]:
    return [model.model_dump() for model in models]


@pytest.mark.parametrize("name", SCENARIOS)
def test_reading_repeated_content_once_changes_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    remembered = scenario_facts(name)
    with monkeypatch.context() as patched:
        patched.setattr(parse, "parse_lenient", on_its_own)
        patched.setattr(medications, "DoseReader", ForgetfulReader)
        alone = scenario_facts(name)
        alone_findings = evaluate_rules(alone).findings
        alone_courses = [phase.courses for phase in alone.phases]
        alone_lazy = (dumped(alone.evaluation.record.observations),
                      dumped(alone.evaluation.record.opioid_history.requests))
    findings = evaluate_rules(remembered).findings

    mine, theirs = remembered.evaluation.record, alone.evaluation.record
    for part in ("medication_requests", "medication_dispenses", "medication_statements", "conditions",
                 "draft_orders"):
        assert dumped(getattr(mine, part)) == dumped(getattr(theirs, part)), part
    assert (dumped(mine.observations), dumped(mine.opioid_history.requests)) == alone_lazy
    assert mine.incomplete == theirs.incomplete
    assert [phase.courses for phase in remembered.phases] == alone_courses
    assert [phase.history for phase in remembered.phases] == [phase.history for phase in alone.phases]
    assert findings == alone_findings
