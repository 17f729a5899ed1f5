"""A hook body decoded with a long benzodiazepine history read straight into the record's types
(cds_service/fhir/hook_body.py): a Bundle of taper medications only is read typed, any other as JSON; every fixture
reads the same record either way; a history the types refuse is read as JSON, repaired or skipped as before; and a
body the general decoder refuses is refused as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

import cds_service.fhir.hook_body as hook_body
from cds_service.clinical.facts import ClinicalFacts
from cds_service.clinical.resources import Resource
from cds_service.clinical.terminology import load_terminology
from cds_service.errors import BadRequest
from cds_service.fhir.client import bundle_resources, has_error_outcome, next_link
from cds_service.fhir.hook_body import decode_hook_body
from cds_service.json_codec import decode_json
from tests.utils.facts import facts_from_request
from tests.utils.fhir import DIAZEPAM_5_MG_TABLET, medication_request
from tests.utils.scenarios import NAMES as SCENARIOS
from tests.utils.scenarios import expected, folder

MEDICATIONS = ("MedicationRequest", "MedicationDispense", "MedicationStatement")
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
    decoded = decode_hook_body(raw, min_bytes=0)
    assert decoded is not None
    return (decoded, facts_from_request(decoded, service, settings),
            facts_from_request(decode_json(raw), service, settings))


def _read_typed(bundle: dict[str, Any]) -> bool:
    resources = [entry.get("resource") for entry in bundle.get("entry") or []]
    return bool(resources) and all(isinstance(resource, Resource) for resource in resources)


def _taper_medications_only(bundle: dict[str, Any]) -> bool:
    """Every entry a medication whose every coding is an RxNorm code of a benzodiazepine, Z-drug or adjunct."""
    terminology, entries = load_terminology(), bundle.get("entry") or []
    return bool(entries) and all(
        isinstance(entry.get("resource"), dict) and entry["resource"].get("resourceType") in MEDICATIONS
        and entry["resource"].get("medicationCodeableConcept", {}).get("coding")
        and all(terminology.is_taper_medication_code(coding.get("system"), coding.get("code"))
                for coding in entry["resource"]["medicationCodeableConcept"]["coding"])
        for entry in entries)


@pytest.mark.parametrize("name", R4_SCENARIOS)
def test_every_fixture_reads_the_same_record_and_its_taper_histories_typed(name: str) -> None:
    want = expected(name)
    raw = (folder(name) / "request.json").read_bytes()
    decoded, read_on_decoding, through_json = _both(raw, want["service"], want.get("settings"))
    assert _record(read_on_decoding) == _record(through_json)
    sent = json.loads(raw)["prefetch"]
    for key, bundle in decoded["prefetch"].items():
        if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
            fits = _taper_medications_only(sent[key])
            assert _read_typed(bundle) == fits, f"{key}: read typed {_read_typed(bundle)}"


def test_the_fixtures_hold_taper_histories_read_typed() -> None:
    """The test above is not vacuous: many scenarios' histories take the typed read."""
    typed = []
    for name in R4_SCENARIOS:
        decoded = decode_hook_body((folder(name) / "request.json").read_bytes(), min_bytes=0)
        assert decoded is not None
        typed += [name for value in decoded["prefetch"].values()
                  if isinstance(value, dict) and value.get("resourceType") == "Bundle" and _read_typed(value)]
    assert len(typed) >= 150, typed  # 184 when written


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


def test_a_history_with_other_resources_is_read_as_json() -> None:
    body = _history_body(_order("o1"), {"resourceType": "Encounter", "id": "e1", "status": "finished"}, _order("o2"),
                         outcome={"resourceType": "OperationOutcome",
                                  "issue": [{"severity": "information", "code": "informational"}]})
    decoded, read_on_decoding, through_json = _both(json.dumps(body).encode(), "bzd-taper-order-sign")
    assert [type(resource).__name__ for resource in _entries(decoded)] == ["dict"] * 4
    assert _record(read_on_decoding) == _record(through_json)
    assert [order.id for order in read_on_decoding.evaluation.record.medication_requests] == ["o1", "o2"]


@pytest.mark.parametrize("refused", [
    {"category": {"text": "outpatient"}},  # an object where R4 wants a list: repaired
    {"authoredOn": "2026-02-30"},  # no real date: skipped, and said
    {"dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 123456789}}]}]},  # 1e400: infinity
])
def test_a_taper_history_the_types_refuse_is_read_as_json_repaired_or_skipped_as_before(
        refused: dict[str, Any]) -> None:
    body = _history_body(_order("o1"), _order("o2", **refused), _order("o3"))
    text = json.dumps(body).encode().replace(b"123456789", b"1e400")  # beyond a double: msgspec refuses it
    decoded, read_on_decoding, through_json = _both(text, "bzd-taper-order-sign")
    assert [type(resource).__name__ for resource in _entries(decoded)] == ["dict"] * 3
    assert _record(read_on_decoding) == _record(through_json)


def test_a_taper_history_is_read_typed_to_the_same_record() -> None:
    body = _history_body(*(_order(f"o{n}", authoredOn=f"2026-02-{n:02d}") for n in range(1, 21)))
    decoded, read_on_decoding, through_json = _both(json.dumps(body).encode(), "bzd-taper-order-sign")
    assert [type(resource).__name__ for resource in _entries(decoded)] == ["MedicationRequest"] * 20
    assert _record(read_on_decoding) == _record(through_json)


def test_only_a_body_of_a_megabyte_or_more_is_searched_for_a_history_to_read_typed() -> None:
    small = json.dumps(_history_body(_order("o1"))).encode()
    assert decode_hook_body(small) is None
    large = json.dumps(_history_body(*(_order(f"o{n}") for n in range(1800)))).encode()
    assert len(large) >= hook_body.TYPED_READ_MIN_BYTES
    decoded = decode_hook_body(large)
    assert decoded is not None and _read_typed(decoded["prefetch"]["medicationRequests"])


@pytest.mark.parametrize(("inserted", "why"), [
    (b'"\xff"', "not UTF-8"),
    (b'"\\ud800"', "a lone surrogate escape"),
    (b"NaN", "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # beyond every supported Python's limits
])
def test_a_history_the_general_decoder_refuses_is_refused_as_before(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch, inserted: bytes, why: str) -> None:
    monkeypatch.setattr(hook_body, "TYPED_READ_MIN_BYTES", 0)
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
    assert _as_read(decode_hook_body(body, min_bytes=0)) == _as_read(decode_json(body))


@pytest.mark.parametrize("body", [b"[]", b'"order-sign"', b"{} []", b'{"context": {"n": 1e400}}',
                                  b'{"prefetch": []}'])
def test_bodies_msgspec_reads_otherwise_are_left_to_the_general_decoder(body: bytes) -> None:
    assert decode_hook_body(body, min_bytes=0) is None
