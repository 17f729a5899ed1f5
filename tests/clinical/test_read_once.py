"""A call reads each repeated dosage once (the dose reader). Every scenario of ``fhir_fixtures/`` must give the same
courses, histories and findings — every number and word of every card — as when each order's dose is read on its
own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

import cds_service.clinical.medications as medications
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


@pytest.mark.parametrize("name", SCENARIOS)
def test_reading_repeated_content_once_changes_nothing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    remembered = scenario_facts(name)
    with monkeypatch.context() as patched:
        patched.setattr(medications, "DoseReader", ForgetfulReader)
        alone = scenario_facts(name)
        alone_findings = evaluate_rules(alone).findings
        alone_courses = [phase.courses for phase in alone.phases]
    findings = evaluate_rules(remembered).findings

    assert remembered.evaluation.record.incomplete == alone.evaluation.record.incomplete
    assert [phase.courses for phase in remembered.phases] == alone_courses
    assert [phase.history for phase in remembered.phases] == [phase.history for phase in alone.phases]
    assert findings == alone_findings
