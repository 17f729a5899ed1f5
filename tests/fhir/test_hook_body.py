"""A hook body decoded with its prefetched history read straight into the record's types
(cds_service/fhir/hook_body.py): every fixture reads the same record as through JSON, a resource the types refuse
stays JSON and is repaired or skipped as before, and a body the general decoder refuses is refused as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.resources import Resource
from cds_service.errors import BadRequest
from cds_service.fhir.client import bundle_resources, has_error_outcome, next_link
from cds_service.fhir.hook_body import decode_hook_body
from cds_service.json_codec import decode_json
from tests.utils.facts import facts_from_request
from tests.utils.fhir import DIAZEPAM_5_MG_TABLET, medication_request
from tests.utils.scenarios import NAMES as SCENARIOS
from tests.utils.scenarios import expected, folder

RECORD_TYPES = {"Patient", "MedicationRequest", "MedicationDispense", "MedicationStatement", "Condition",
                "Observation"}
REFUSED_FIXTURE_RESOURCES = {("cardtext-dose-unreadable-hostile-period-unit", "d1")}
"""Fixture resources outside FHIR in what the rules read (a ``periodUnit`` outside its value set)."""
R4_SCENARIOS = [name for name in SCENARIOS if expected(name)["service"] != "bzd-taper-medication-prescribe"]


def _record(facts: ClinicalFacts) -> tuple[Any, ...]:
    """Everything the rules can read of the record, the lazily read parts included."""
    record = facts.evaluation.record
    return (record.patient, record.medication_requests, record.medication_dispenses, record.medication_statements,
            record.conditions, record.draft_orders, record.draft_json, record.observations, record.opioid_history,
            record.incomplete, facts.evaluation.at)


def _entries(body: dict[str, Any]) -> list[Any]:
    return [entry.get("resource") for value in (body.get("prefetch") or {}).values()
            if isinstance(value, dict) and value.get("resourceType") == "Bundle" for entry in value.get("entry") or []]


def _both(raw: bytes, service: str, settings: dict[str, Any] | None = None) -> tuple[dict[str, Any], ClinicalFacts,
                                                                                       ClinicalFacts]:
    decoded = decode_hook_body(raw)
    assert decoded is not None
    return (decoded, facts_from_request(decoded, service, settings),
            facts_from_request(decode_json(raw), service, settings))


@pytest.mark.parametrize("name", R4_SCENARIOS)
def test_every_fixture_reads_the_same_record_with_its_history_read_on_decoding(name: str) -> None:
    want = expected(name)
    raw = (folder(name) / "request.json").read_bytes()
    decoded, read_on_decoding, through_json = _both(raw, want["service"], want.get("settings"))
    assert _record(read_on_decoding) == _record(through_json)
    for resource in _entries(decoded):
        kind, resource_id = (type(resource).__name__, resource.id) if isinstance(resource, Resource) \
            else (resource.get("resourceType"), resource.get("id"))
        if kind in RECORD_TYPES and (name, resource_id) not in REFUSED_FIXTURE_RESOURCES:
            assert isinstance(resource, Resource), f"{kind}/{resource_id} was left as JSON"


def _history_body(*history: Any, outcome: dict[str, Any] | None = None) -> dict[str, Any]:
    draft = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=2, authored_on="2026-03-16",
                               status="draft", id="draft")
    entries = [{"resource": resource} for resource in history]
    if outcome is not None:
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    empty = {"resourceType": "Bundle", "type": "searchset"}
    return {"hook": "order-sign", "hookInstance": "d5f4a2b6-6f4e-4d6c-9a59-0f6b3c2a1e11",
            "context": {"patientId": "p1", "userId": "Practitioner/1",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01"},
                         "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": entries},
                         "medicationDispenses": empty, "medicationStatements": empty, "conditions": empty,
                         "observations": empty}}


def _order(order_id: str, **changes: Any) -> dict[str, Any]:
    order = medication_request(DIAZEPAM_5_MG_TABLET, tablets=2, per_day=2, authored_on="2026-02-01", id=order_id)
    return {**order, **changes}


def test_resources_the_types_refuse_stay_json_and_are_repaired_or_skipped_as_before() -> None:
    body = _history_body(
        _order("valid"),
        _order("needs-a-repair", category={"text": "outpatient"}),  # an object where R4 wants a list
        _order("no-real-date", authoredOn="2026-02-30"),  # skipped, and said
        {"resourceType": "Encounter", "id": "e1", "status": "finished"},  # no rule reads it
        "not an object",
        outcome={"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]},
    )
    decoded, read_on_decoding, through_json = _both(json.dumps(body).encode(), "bzd-taper-order-sign")
    entries = _entries(decoded)
    assert [type(resource).__name__ for resource in entries] == \
        ["MedicationRequest", "dict", "dict", "dict", "str", "dict"]
    assert _record(read_on_decoding) == _record(through_json)
    record = read_on_decoding.evaluation.record
    assert [order.id for order in record.medication_requests] == ["valid", "needs-a-repair"]
    assert record.notes == ("one MedicationRequest could not be read (datetime_from_date_parsing at authoredOn) "
                            "and was skipped",)


def test_numbers_beyond_a_double_or_64_bits_read_as_the_general_decoder_reads_them() -> None:
    context, history = json.dumps(_history_body(_order("huge-dose"), _order("long-period"))).split('"prefetch"')
    text = context + '"prefetch"' + history.replace('"value": 2', '"value": 1e400', 1).replace(
        '"period": 1', '"period": 36893488147419103232', 1)
    decoded, read_on_decoding, through_json = _both(text.encode(), "bzd-taper-order-sign")
    # msgspec refuses a double's overflow, which the general decoder reads as infinity; it reads a big integer alike
    assert [type(resource).__name__ for resource in _entries(decoded)] == ["dict", "MedicationRequest"]
    assert _record(read_on_decoding) == _record(through_json)


@pytest.mark.parametrize(("inserted", "why"), [
    (b'"\xff"', "not UTF-8"),
    (b'"\\ud800"', "a lone surrogate escape"),
    (b"NaN", "not JSON"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
])
def test_a_history_the_general_decoder_refuses_is_refused_as_before(client: FlaskClient, inserted: bytes,
                                                                    why: str) -> None:
    body = json.dumps(_history_body(_order("o1", note="PLACE"))).encode().replace(b'"PLACE"', inserted)
    assert decode_hook_body(body) is None, why
    with pytest.raises(BadRequest) as refused:
        decode_json(body)
    response = client.post("/cds-services/bzd-taper-order-sign", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["diagnostics"] == refused.value.diagnostics


def _as_read(body: Any) -> Any:
    """What the service reads of a decoded body: its members, and of each prefetched Bundle what the prefetch
    resolution reads (``resourceType``, the ``next`` link, error outcomes, the entries' resources)."""
    if not isinstance(body, dict) or not isinstance(body.get("prefetch"), dict):
        return body
    prefetch = {key: (value["resourceType"], next_link(value), has_error_outcome(value), bundle_resources(value))
                if isinstance(value, dict) and value.get("resourceType") == "Bundle" else value
                for key, value in body["prefetch"].items()}
    return {**body, "prefetch": prefetch}


@pytest.mark.parametrize("prefetched", [
    "null", '{"p": 1}', '{"p": {"resourceType": "Patient", "id": "p1"}}',
    '{"b": {"resourceType": "Bundle", "entry": null}}', '{"b": {"resourceType": "Bundle", "entry": 5}}',
    '{"b": {"resourceType": "Bundle", "type": "searchset", "total": 0}}',
    '{"b": {"resourceType": "Bundle", "entry": [{}, {"resource": null}, {"fullUrl": "x", "search": {}}, 7]}}',
    '{"b": {"resourceType": "Bundle", "link": [{"relation": "next", "url": "https://fhir.example/p2"}], '
    '"entry": [{"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}, '
    '"search": {"mode": "outcome"}}]}}',
])
def test_prefetched_values_of_every_shape_read_as_through_json(prefetched: Any) -> None:
    body = f'{{"hook": "order-sign", "prefetch": {prefetched}}}'.encode()
    assert _as_read(decode_hook_body(body)) == _as_read(decode_json(body))


@pytest.mark.parametrize("body", [b"[]", b'"order-sign"', b"{} []", b'{"context": {"n": 1e400}}',
                                  b'{"prefetch": []}'])
def test_bodies_msgspec_reads_otherwise_are_left_to_the_general_decoder(body: bytes) -> None:
    assert decode_hook_body(body) is None
