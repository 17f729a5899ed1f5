"""FHIR resources that suggestions create: draft orders and requests for consultation.

Every resource is a *draft* for the prescriber to review and sign; nothing is ordered automatically.
"""

from __future__ import annotations

from typing import Any

from cds_service.clinical.terminology import RXNORM, SNOMED

GABAPENTIN_100_MG_CAPSULE = {"system": RXNORM, "code": "310430", "display": "gabapentin 100 MG Oral Capsule"}
COGNITIVE_BEHAVIOURAL_THERAPY = {
    "system": SNOMED, "code": "304891004", "display": "Cognitive behavioral therapy (regime/therapy)",
}
BEDTIME_TIMING = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}}


def draft_medication_request(
    patient_id: str,
    medication: dict[str, str],
    dose_value: int | float,
    dose_unit: str,
    timing: dict[str, Any],
    text: str,
    authored_on: str | None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {"coding": [medication], "text": medication["display"]},
        "dosageInstruction": [{
            "text": text,
            "timing": timing,
            "route": {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]},
            "doseAndRate": [{"doseQuantity": {"value": dose_value, "unit": dose_unit,
                                              "system": "http://unitsofmeasure.org", "code": dose_unit}}],
        }],
    }
    if authored_on:
        request["authoredOn"] = authored_on
    return request


def consultation_request(
    patient_id: str, service: dict[str, str] | str, reason: str, clinical_summary: str, authored_on: str | None
) -> dict[str, Any]:
    """A draft request for consultation carrying its reason and a short clinical summary, so that the
    receiving clinician can accept or decline the patient — never a "cold referral" (seed guidance,
    "Common Pitfalls to Avoid")."""
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [{"coding": [{"system": SNOMED, "code": "306206005", "display": "Referral to service"}]}],
        "code": {"coding": [service], "text": service["display"]} if isinstance(service, dict) else {"text": service},
        "subject": {"reference": f"Patient/{patient_id}"},
        "reasonCode": [{"text": reason}],
        "note": [{"text": clinical_summary}],
    }
    if authored_on:
        request["authoredOn"] = authored_on
    return request
