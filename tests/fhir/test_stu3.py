"""Legacy shapes read with R4 names (docs/clinical-reference.md §7l): what each conversion changes, and that it
changes nothing else — an R4 resource is returned as it is, and no input is modified."""

from __future__ import annotations

import copy
from typing import Any

from fhir.resources.STU3.medicationrequest import MedicationRequest as STU3MedicationRequest
from fhir.resources.STU3.procedurerequest import ProcedureRequest as STU3ProcedureRequest

from cds_service.fhir.stu3 import as_r4, as_stu3

DOSE = {"value": 2, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tablet}"}
TIMING = {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}


def _unchanged_input(resource: dict[str, Any]) -> dict[str, Any]:
    sent = copy.deepcopy(resource)
    converted = as_r4(resource)
    assert resource == sent, "the input is left as it was"
    return converted


def test_an_stu3_medication_request_names_its_requester_encounter_and_dose_as_r4() -> None:
    order = {"resourceType": "MedicationRequest", "id": "o1", "status": "active", "intent": "order",
             "requester": {"agent": {"reference": "Practitioner/dr-a"}, "onBehalfOf": {"reference": "Organization/x"}},
             "context": {"reference": "Encounter/e1"},
             "dosageInstruction": [{"timing": TIMING, "doseQuantity": DOSE, "asNeededBoolean": False}]}
    r4 = _unchanged_input(order)
    assert r4["requester"] == {"reference": "Practitioner/dr-a"}
    assert r4["encounter"] == {"reference": "Encounter/e1"} and "context" not in r4
    assert r4["dosageInstruction"] == [{"timing": TIMING, "asNeededBoolean": False,
                                        "doseAndRate": [{"doseQuantity": DOSE}]}]


def test_a_dstu2_medication_order_is_a_medication_request() -> None:
    order = {"resourceType": "MedicationOrder", "id": "mo1", "status": "active", "patient": {"reference": "Patient/p"},
             "prescriber": {"reference": "Practitioner/dr-a"}, "dateWritten": "2025-09-01",
             "dosageInstruction": [{"timing": TIMING, "doseQuantity": DOSE, "asNeeded": True}]}
    r4 = _unchanged_input(order)
    assert r4["resourceType"] == "MedicationRequest" and r4["intent"] == "order"
    assert (r4["subject"], r4["requester"], r4["authoredOn"]) == (
        {"reference": "Patient/p"}, {"reference": "Practitioner/dr-a"}, "2025-09-01")
    assert r4["dosageInstruction"][0]["asNeededBoolean"] is True
    assert r4["dosageInstruction"][0]["doseAndRate"] == [{"doseQuantity": DOSE}]


def test_a_statement_not_taken_is_not_taken_and_its_dose_is_read() -> None:
    stu3 = {"resourceType": "MedicationStatement", "status": "completed", "taken": "n",
            "dosage": [{"timing": TIMING, "doseQuantity": DOSE}]}
    r4 = _unchanged_input(stu3)
    assert r4["status"] == "not-taken" and "taken" not in r4
    assert r4["dosage"][0]["doseAndRate"] == [{"doseQuantity": DOSE}]
    dstu2 = {"resourceType": "MedicationStatement", "status": "active", "patient": {"reference": "Patient/p"},
             "wasNotTaken": False, "dosage": [{"timing": TIMING, "quantityQuantity": DOSE}]}
    r4 = _unchanged_input(dstu2)
    assert r4["status"] == "active" and r4["subject"] == {"reference": "Patient/p"} and "wasNotTaken" not in r4
    assert r4["dosage"][0]["doseAndRate"] == [{"doseQuantity": DOSE}]


def test_a_dispense_not_done_is_declined() -> None:
    r4 = _unchanged_input({"resourceType": "MedicationDispense", "status": "completed", "notDone": True,
                           "dosageInstruction": [{"doseQuantity": DOSE}]})
    assert r4["status"] == "declined" and "notDone" not in r4
    assert r4["dosageInstruction"] == [{"doseAndRate": [{"doseQuantity": DOSE}]}]


def test_a_condition_status_code_becomes_a_concept() -> None:
    r4 = _unchanged_input({"resourceType": "Condition", "clinicalStatus": "remission",
                           "verificationStatus": "confirmed", "assertedDate": "2024-05-01",
                           "context": {"reference": "Encounter/e1"}})
    assert r4["clinicalStatus"] == {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                "code": "remission"}]}
    assert r4["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert r4["recordedDate"] == "2024-05-01" and r4["encounter"] == {"reference": "Encounter/e1"}


def test_r4_resources_are_returned_as_they_are() -> None:
    for resource in (
        {"resourceType": "MedicationRequest", "requester": {"reference": "Practitioner/a"},
         "dosageInstruction": [{"doseAndRate": [{"doseQuantity": DOSE}]}]},
        {"resourceType": "Condition", "clinicalStatus": {"coding": [{"code": "active"}]}, "recordedDate": "2024-01-01"},
        {"resourceType": "MedicationStatement", "status": "active", "context": {"reference": "Encounter/e1"}},
        {"resourceType": "Observation", "status": "final"},
        {"resourceType": "Patient", "id": "p"},
    ):
        assert as_r4(resource) is resource


def test_a_one_click_order_for_a_legacy_client_is_stu3_and_reads_back_the_same() -> None:
    """What a suggestion creates, in the shape an STU3 client reads: the dose on the dosage (an R4 doseAndRate would
    be dropped by the client, and with it the dose), requester.agent, one category; R4-only members left out."""
    r4 = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
          "category": [{"coding": [{"code": "community"}]}], "requester": {"reference": "Practitioner/dr-a"},
          "subject": {"reference": "Patient/p"}, "courseOfTherapyType": {"text": "acute"},
          "medicationCodeableConcept": {"text": "diazepam 5 MG Oral Tablet"},
          "dosageInstruction": [{"timing": TIMING, "doseAndRate": [{"doseQuantity": DOSE}]}],
          "dispenseRequest": {"quantity": {"value": 60}, "initialFill": {"quantity": {"value": 10}},
                              "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}}}
    sent = copy.deepcopy(r4)
    stu3 = as_stu3(r4)
    assert r4 == sent
    STU3MedicationRequest.model_validate(stu3)
    assert stu3["dosageInstruction"] == [{"timing": TIMING, "doseQuantity": DOSE}]
    assert stu3["requester"] == {"agent": {"reference": "Practitioner/dr-a"}}
    assert stu3["category"] == {"coding": [{"code": "community"}]} and "courseOfTherapyType" not in stu3
    assert "initialFill" not in stu3["dispenseRequest"]
    back = as_r4(stu3)
    assert back["dosageInstruction"] == r4["dosageInstruction"] and back["category"] == r4["category"]
    assert back["requester"] == r4["requester"]


def test_a_service_request_for_a_legacy_client_is_a_procedure_request() -> None:
    request = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
               "code": {"text": "HLA-B*15:02 genotype"}, "subject": {"reference": "Patient/p"},
               "reasonCode": [{"text": "Before starting oxcarbazepine"}], "note": [{"text": "summary"}]}
    stu3 = as_stu3(request)
    assert stu3["resourceType"] == "ProcedureRequest" and request["resourceType"] == "ServiceRequest"
    STU3ProcedureRequest.model_validate(stu3)
