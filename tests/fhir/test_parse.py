"""Reading what real clients send with R4 names (cds_service/fhir/parse.py)."""

from __future__ import annotations

import copy
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest as R4MedicationRequest

from cds_service.clinical.resources import CodeableConcept, Coding
from cds_service.clinical.terminology import load_terminology
from cds_service.fhir.parse import (
    ParseNotes,
    RelevantRecord,
    as_r4_medication_request,
    build_patient_record,
    parse_fully,
    parse_patient_record,
    relevant_resources,
)
from tests.utils.fhir import DIAZEPAM_5_MG_TABLET, RXNORM, baclofen_draft, medication_request


def test_an_stu3_dose_moves_into_dose_and_rate_and_the_input_is_left_as_it_was() -> None:
    stu3 = baclofen_draft()
    dosage = stu3["dosageInstruction"][0]
    dosage["doseQuantity"] = dosage.pop("doseAndRate")[0]["doseQuantity"]
    dosage["asNeeded"] = False
    sent = copy.deepcopy(stu3)

    r4 = as_r4_medication_request(stu3)

    assert r4["dosageInstruction"][0]["doseAndRate"] == [{"doseQuantity": dosage["doseQuantity"]}]
    assert r4["dosageInstruction"][0]["asNeededBoolean"] is False
    assert "doseQuantity" not in r4["dosageInstruction"][0]
    assert stu3 == sent


def _medication(kind: str, id: str, code: str | None, text: str) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
    resource = {"resourceType": kind, "id": id, "status": "active", "medicationCodeableConcept": concept,
                "subject": {"reference": "Patient/p1"}}
    if kind == "MedicationRequest":
        resource["intent"] = "order"
    return resource


def test_opioid_and_naloxone_history_is_kept_and_unrelated_medication_is_not() -> None:
    raw = {
        "medicationRequests": [_medication("MedicationRequest", "oxy", "1049621", "oxycodone 5 MG Oral Tablet"),
                               _medication("MedicationRequest", "lis", "314076", "lisinopril 10 MG Oral Tablet")],
        "medicationDispenses": [_medication("MedicationDispense", "nal", "1725059", "naloxone 4 mg nasal spray"),
                                _medication("MedicationDispense", "bup", None, "Suboxone 8 mg/2 mg film")],
        "medicationStatements": [_medication("MedicationStatement", "mtd", None, "Methadone 90 mg daily (OTP)"),
                                 _medication("MedicationStatement", "asp", None, "aspirin 81 mg")],
    }
    relevant = relevant_resources(raw, load_terminology())
    assert relevant.resources == []
    assert [resource["id"] for resource in relevant.opioid_medications] == ["oxy", "nal", "bup", "mtd"]


def test_opioid_history_is_parsed_only_when_a_rule_reads_it() -> None:
    raw = {
        "medicationRequests": [_medication("MedicationRequest", "oxy", "1049621", "oxycodone 5 MG Oral Tablet"),
                               _medication("MedicationRequest", "dzp", "197591", "diazepam 5 MG Oral Tablet")],
        "medicationDispenses": [{**_medication("MedicationDispense", "nal", "1725059", "naloxone nasal spray"),
                                 "quantity": "two"}],  # unreadable: said once read
    }
    record = build_patient_record(raw, [], load_terminology())
    assert [order.id for order in record.medication_requests] == ["dzp"]
    assert "opioid_history" not in record.__dict__ and record.incomplete == ()
    assert [order.id for order in record.opioid_history.requests] == ["oxy"]
    assert record.opioid_history.dispenses == ()
    assert record.incomplete == ("one MedicationDispense could not be read (json_invalid at quantity) and was skipped",)


def _refills() -> list[dict[str, Any]]:
    """Diazepam refills repeating one coding, dosage and patient reference, with the quirks real records have."""
    orders = [medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on=f"2025-{month:02d}-01",
                                 status="completed", id=f"dzp-{month}") for month in range(1, 13)]
    orders[3]["category"] = {"coding": [{"code": "outpatient"}]}  # an object where R4 wants a list: repaired
    orders[5]["dosageInstruction"][0]["doseQuantity"] = {"value": 1}  # STU3 member: dropped, the order kept
    orders[7]["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = "twice"  # unreadable: skipped, said so
    orders[9]["dosageInstruction"] = [None]  # unreadable: skipped, said so
    return orders


def test_a_history_with_the_quirks_of_real_records_reads_each_order_as_the_complete_model_does() -> None:
    """Each order is read as the complete FHIR model reads it on its own: repaired (then read into the same
    types as the others) or skipped with its note; the records sent are left as they were."""
    orders = _refills()
    sent = copy.deepcopy(orders)
    alone_notes = ParseNotes()
    alone = [parse_fully(R4MedicationRequest, order, alone_notes) for order in copy.deepcopy(orders)]

    record = parse_patient_record(RelevantRecord(orders), [])

    assert [model.id for model in record.medication_requests] == \
        [model.id for model in alone if model is not None] == [f"dzp-{m}" for m in range(1, 13) if m not in (8, 10)]
    assert record.incomplete == tuple(alone_notes.skipped) == (
        "one MedicationRequest could not be read (int_parsing at dosageInstruction.0.timing.repeat.frequency) "
        "and was skipped",
        "one MedicationRequest could not be read (list_type at dosageInstruction) and was skipped",
    )
    first, wrapped, dropped = (record.medication_requests[index] for index in (0, 3, 5))
    assert wrapped.category == (CodeableConcept(coding=(Coding(code="outpatient"),)),)
    assert dropped.dosageInstruction == first.dosageInstruction  # the STU3 member dropped, the rest as sent
    assert orders == sent
