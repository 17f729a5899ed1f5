"""Builders for the FHIR R4 JSON that tests send, in the clinical vocabulary of the tests."""

from __future__ import annotations

import uuid
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"

DIAZEPAM_5_MG_TABLET = ("197591", "diazepam 5 MG Oral Tablet")
DIAZEPAM_2_MG_TABLET = ("197590", "diazepam 2 MG Oral Tablet")
DIAZEPAM_10_MG_TABLET = ("197589", "diazepam 10 MG Oral Tablet")
BACLOFEN_10_MG_TABLET = ("197391", "baclofen 10 MG Oral Tablet")
BACLOFEN_5_MG_TABLET = ("430902", "baclofen 5 MG Oral Tablet")
BACLOFEN_INTRATHECAL = ("1300890", "20 ML baclofen 1 MG/ML Injection")


def medication_request(
    medication: tuple[str, str],
    *,
    tablets: float,
    per_day: int,
    authored_on: str,
    status: str = "active",
    id: str | None = None,
    prior: str | None = None,
    patient: str = "p1",
) -> dict[str, Any]:
    code, display = medication
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": id or f"mr-{uuid.uuid4().hex[:8]}",
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "authoredOn": authored_on,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "tablet",
                                              "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                                              "code": "TAB"}}],
        }],
    }
    if prior:
        resource["priorPrescription"] = {"reference": f"MedicationRequest/{prior}"}
    return resource


def condition(code: str, display: str, system: str = SNOMED, clinical_status: str = "active",
              patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-{uuid.uuid4().hex[:8]}",
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical_status}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient}"},
    }


def patient(birth_date: str = "1981-05-02", gender: str = "female", id: str = "p1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id, "gender": gender, "birthDate": birth_date}


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"{r['resourceType']}/{r.get('id')}", "resource": r} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def diazepam_taper_15_to_12() -> list[dict[str, Any]]:
    """Diazepam 15 mg/day since 2025-09-01, cut to 12 mg/day (5 mg BID + 2 mg) on 2026-03-02."""
    return [
        medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=3, authored_on="2025-09-01", status="stopped",
                           id="dzp-15"),
        medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on="2026-03-02", id="dzp-10",
                           prior="dzp-15"),
        medication_request(DIAZEPAM_2_MG_TABLET, tablets=1, per_day=1, authored_on="2026-03-02", id="dzp-2"),
    ]


def baclofen_draft() -> dict[str, Any]:
    """A new baclofen 10 mg three-times-daily draft order, authored 2026-03-16."""
    return medication_request(BACLOFEN_10_MG_TABLET, tablets=1, per_day=3, authored_on="2026-03-16",
                              status="draft", id="bac-1")
