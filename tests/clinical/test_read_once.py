"""A call reads each repeated dosage once (the dose reader). Every scenario of ``fhir_fixtures/`` must give the same
courses, histories and findings — every number and word of every card — as when each order's dose is read on its
own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import cds_service.clinical.medications as medications
from cds_service.clinical.dosing import DoseReader, DoseResult, daily_dose
from cds_service.clinical.engine import evaluate_rules
from cds_service.clinical.facts import ClinicalFacts
from cds_service.config import Settings
from cds_service.evaluate import clinical_facts
from cds_service.fhir.prefetch import resolve_prefetch
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES, prefetch_templates

FIXTURES = Path(__file__).resolve().parents[2] / "fhir_fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())
NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)


def scenario_facts(name: str) -> ClinicalFacts:
    expected = json.loads((FIXTURES / name / "expected.json").read_text())
    service = SERVICES[expected["service"]]
    request = load_hook_request(json.loads((FIXTURES / name / "request.json").read_text()), service.hook)
    raw = resolve_prefetch(prefetch_templates(), request.get("prefetch") or {}, request["context"], None)
    settings = Settings(auth="off").with_overrides(expected.get("settings", {}))
    return clinical_facts(service, request, raw, settings, lambda: NOW)


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
