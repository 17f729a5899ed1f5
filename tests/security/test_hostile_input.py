"""Hostile input gets a 4xx with an OperationOutcome — never a 500, never a hung worker."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.openapi import openapi_document
from tests.conftest import HookCalls
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12

URL = "/cds-services/bzd-taper-order-sign"


def post_raw(client: FlaskClient, data: str | bytes) -> Any:
    return client.post(URL, data=data, content_type="application/json")


def assert_outcome(response: Any, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.get_json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    '{"hook": NaN}', '{"hook": Infinity}', '{"hook": -Infinity}',
    "\udcff", b"\xff\xfe{}", "",
])
def test_unparseable_bodies_are_400(client: FlaskClient, body: str | bytes) -> None:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    assert_outcome(post_raw(client, data), 400)


@pytest.mark.parametrize("member", ["hook", "hookInstance", "context", "prefetch", "fhirServer",
                                    "fhirAuthorization"])
@pytest.mark.parametrize("value", [None, 7, "7", [], [1, 2], {"x": 1}, True, 1e308, "\u202e\u0000"])
def test_wrong_types_in_every_member_are_400(hooks: HookCalls, member: str, value: Any) -> None:
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    body[member] = value
    response = hooks.post(body)
    if member == "hookInstance" and isinstance(value, str):
        # Any string is an identifier to log and echo; CDS clients (the sandbox among them) do not all send UUIDs.
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    else:
        assert_outcome(response, 400)


def test_a_huge_array_of_drafts_within_the_size_limit_is_answered(hooks: HookCalls) -> None:
    body = hooks.request(drafts=[{**baclofen_draft(), "id": f"bac-{n}"} for n in range(1500)],
                         history=diazepam_taper_15_to_12())
    response = hooks.post(body)
    assert response.status_code == 200
    assert len(response.get_json()["cards"]) <= 5


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELDS = ["status", "intent", "authoredOn", "medicationCodeableConcept", "dosageInstruction", "priorPrescription",
          "dispenseRequest", "category", "subject", "id", "contained", "medicationReference"]


def fhir_like(resource_type: str) -> Any:
    return st.fixed_dictionaries({"resourceType": st.just(resource_type)},
                                 optional={name: JSON for name in FIELDS})


# the examples share the test's one app and database, as the calls of one installation do
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(fhir_like("MedicationRequest"), max_size=3), st.lists(fhir_like("MedicationRequest"), max_size=3),
       st.lists(fhir_like("Condition") | fhir_like("Observation") | fhir_like("MedicationStatement"), max_size=3))
def test_fuzzed_fhir_never_fails_the_call(hooks: HookCalls, drafts: list[dict[str, Any]],
                                          history: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
    body = hooks.request(drafts=drafts, history=history + diazepam_taper_15_to_12(), conditions=others)
    response = hooks.post(json.loads(json.dumps(body)))
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:500]


# The operations of the description the service serves at /openapi.json; each example goes to the test's own app.
schema = schemathesis.openapi.from_dict(openapi_document("http://localhost"))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_operations_never_answer_5xx(case: Any, app: Flask) -> None:
    response = case.call(app=app)
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400 and "json" in str(response.headers.get("content-type")):
        assert response.json()["resourceType"] == "OperationOutcome"
    # every answer is one the description declares, in its declared media type
    case.operation.validate_response(response)


DEEP = '{"a":' * 500 + "1" + "}" * 500
"""500 levels: within the JSON parser's limit, beyond what copying or reading a resource recursively survives."""


@pytest.mark.parametrize("member", ["note", "extension", "contained"])
def test_a_draft_nested_500_levels_deep_is_a_clear_400(client: FlaskClient, member: str) -> None:
    draft = baclofen_draft()
    draft[member] = "DEEP"
    body = json.dumps(HookCalls.request(drafts=[draft], history=diazepam_taper_15_to_12()))
    response = post_raw(client, body.replace('"DEEP"', DEEP))
    assert_outcome(response, 400)
    assert response.get_json()["issue"][0]["diagnostics"] == (
        "invalid hook request: context.draftOrders: nested more than 64 levels deep (no FHIR order is)")


def test_a_history_resource_nested_500_levels_deep_where_no_rule_reads_changes_no_card(client: FlaskClient) -> None:
    """The rules' types never descend into an element no rule reads (here ``note``): the order is read as the same
    order with a plain note is; the complete FHIR model, which would recurse, is not asked."""
    history = diazepam_taper_15_to_12()
    history.append({**history[0], "id": "deep", "note": "DEEP"})
    body = json.dumps(HookCalls.request(drafts=[baclofen_draft()], history=history))
    response = post_raw(client, body.replace('"DEEP"', DEEP))
    plain = post_raw(client, body.replace('"DEEP"', '[{"text": "a plain note"}]'))
    assert response.status_code == plain.status_code == 200, response.get_data(as_text=True)[:300]
    details = [card["detail"] for card in response.get_json()["cards"]]
    assert details == [card["detail"] for card in plain.get_json()["cards"]] and details
    assert "could not be read" not in " ".join(details)


def test_a_history_resource_nested_500_levels_deep_that_needs_a_repair_is_skipped_and_said(
        client: FlaskClient) -> None:
    """An element the rules read needs the complete FHIR model (a ``category`` object where R4 wants a list), whose
    repair copies the resource: too deep to copy, it is skipped and the cards say so."""
    history = diazepam_taper_15_to_12()
    history.append({**history[0], "id": "deep", "note": "DEEP", "category": {"text": "outpatient"}})
    body = json.dumps(HookCalls.request(drafts=[baclofen_draft()], history=history))
    response = post_raw(client, body.replace('"DEEP"', DEEP))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    details = " ".join(card["detail"] for card in response.get_json()["cards"])
    assert "nested too deeply" in details
