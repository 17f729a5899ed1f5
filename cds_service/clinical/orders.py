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


NALOXONE_4_MG_NASAL_SPRAY = {
    "system": RXNORM, "code": "1725059", "display": "naloxone hydrochloride 40 MG/ML Nasal Spray",
}
"""RxNorm SCD of naloxone 4 mg per 0.1 mL actuation nasal spray (the Narcan 4 mg product; SBD 1725064), from
the CDC naloxone value set (see terminology/SOURCES.md)."""


def naloxone_rescue_request(patient_id: str, authored_on: str | None) -> dict[str, Any]:
    """A draft order for naloxone 4 mg nasal spray, two devices, with the label's directions (Narcan USPI §2.1:
    one spray in one nostril; a new device in the other nostril every 2 to 3 minutes if there is no response
    or breathing slows again)."""
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "community",
            "display": "Community"}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {"coding": [NALOXONE_4_MG_NASAL_SPRAY], "text": "naloxone 4 mg nasal spray"},
        "dosageInstruction": [{
            "text": "For suspected opioid overdose: spray 4 mg (one device) into one nostril and call 911. If there "
                    "is no response, or breathing slows again, give another dose with a new device in the other "
                    "nostril every 2 to 3 minutes.",
            "asNeededCodeableConcept": {"text": "suspected opioid overdose"},
            "route": {"coding": [{"system": SNOMED, "code": "46713006", "display": "Nasal route"}]},
            "doseAndRate": [{"doseQuantity": {"value": 4, "unit": "mg", "system": "http://unitsofmeasure.org",
                                              "code": "mg"}}],
        }],
        "dispenseRequest": {"quantity": {"value": 2, "unit": "nasal spray device"}},
    }
    if authored_on:
        request["authoredOn"] = authored_on
    return request
