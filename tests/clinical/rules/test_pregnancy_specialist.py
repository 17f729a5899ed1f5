"""Rule ``pregnancy-specialist`` on its own (``evaluate(facts)``): any benzodiazepine reduction in pregnancy asks
for a specialist first; a stop is critical (docs/clinical-reference.md §11b)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.rules import pregnancy_specialist
from tests.utils.facts import facts_of

DIAZEPAM_5 = "diazepam 5 MG Oral Tablet"
PREGNANT = {"code": "Z33.1", "system": "icd10", "display": "Pregnant state, incidental"}


def step(draft: dict[str, Any], *conditions: dict[str, Any]) -> dict[str, Any]:
    return {"patient": {"age": 30}, "conditions": list(conditions),
            "history": [{"drug": DIAZEPAM_5, "tablets": 4, "authored": "2025-09-01", "id": "o1"}],
            "drafts": [{"drug": DIAZEPAM_5, "prior": "o1", **draft}]}


def test_a_reduction_in_pregnancy_asks_for_a_consultation_with_the_numbers() -> None:
    [finding] = pregnancy_specialist.evaluate(facts_of(step({"tablets": 3}, PREGNANT)))
    assert (finding.indicator, finding.order_id) == ("warning", "d1")
    assert finding.summary == "Pregnancy: consult a specialist before tapering diazepam"
    lines = finding.detail.splitlines()
    assert lines[0] == "**Order:** diazepam 5 MG Oral Tablet — reduces a benzodiazepine during pregnancy."
    assert "- Pregnancy: Pregnant state, incidental (Z33.1)." in lines
    assert "- Total benzodiazepine dose: 20 mg → 15 mg diazepam-equivalent/day (25 % reduction; Ashton table)." \
        in lines
    [consult] = finding.suggestions
    assert consult.label == "Request a specialist consultation" and consult.is_recommended
    [action] = consult.actions
    assert action.type == "create" and action.resource is not None
    assert action.resource["resourceType"] == "ServiceRequest"


def test_stopping_in_pregnancy_is_critical() -> None:
    [finding] = pregnancy_specialist.evaluate(facts_of(step({"tablets": 4, "status": "stopped"}, PREGNANT)))
    assert finding.indicator == "critical"
    assert finding.summary == "Pregnancy: do not stop diazepam without specialist consultation"


def test_silent_without_evidence_of_pregnancy() -> None:
    assert list(pregnancy_specialist.evaluate(facts_of(step({"tablets": 3})))) == []
