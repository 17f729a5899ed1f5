"""Request validation and error statuses (docs/service-contract.md §7; CDS Hooks 2.0 "Request validation")."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import HookCalls


def _outcome(response: Any) -> str:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error"
    return str(issue["diagnostics"])


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def test_malformed_json_is_400_with_operation_outcome(client: FlaskClient) -> None:
    response = client.post("/cds-services/bzd-taper-order-sign", data="{not json",
                           content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in _outcome(response)


def test_body_that_is_not_json_is_415(client: FlaskClient) -> None:
    response = client.post("/cds-services/bzd-taper-order-sign", data="hook=order-sign",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    _outcome(response)


def test_unknown_service_is_404(hooks: HookCalls) -> None:
    response = hooks.post(hooks.request(), service_id="no-such-service")
    assert response.status_code == 404
    assert "no-such-service" in _outcome(response)


@pytest.mark.parametrize("member", ["hook", "hookInstance", "context"])
def test_missing_required_member_is_400_naming_it(hooks: HookCalls, member: str) -> None:
    response = hooks.post(_without(hooks.request(), member))
    assert response.status_code == 400
    assert member in _outcome(response)


def test_hook_not_matching_the_service_is_400(hooks: HookCalls) -> None:
    response = hooks.post(hooks.request("order-select"), service_id="bzd-taper-order-sign")
    assert response.status_code == 400
    assert "order-sign" in _outcome(response)


def test_fhir_authorization_without_fhir_server_is_400(hooks: HookCalls) -> None:
    body = hooks.request()
    body["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "cds-service"}
    response = hooks.post(body)
    assert response.status_code == 400
    diagnostics = _outcome(response)
    assert "fhirServer" in diagnostics and "secret-token" not in diagnostics


@pytest.mark.parametrize(
    ("hook", "service_id", "context_member"),
    [
        ("order-sign", "bzd-taper-order-sign", "draftOrders"),
        ("order-select", "bzd-taper-order-select", "selections"),
        ("order-select", "bzd-taper-order-select", "draftOrders"),
        ("medication-prescribe", "bzd-taper-medication-prescribe", "medications"),
        ("order-sign", "bzd-taper-order-sign", "patientId"),
    ],
)
def test_missing_hook_context_member_is_400(hooks: HookCalls, hook: str, service_id: str,
                                            context_member: str) -> None:
    body = hooks.request(hook)
    del body["context"][context_member]
    response = hooks.post(body, service_id=service_id)
    assert response.status_code == 400
    assert context_member in _outcome(response)


@pytest.mark.parametrize("bad_value", [[], "text", 3, {"resourceType": "Patient"}])
def test_draft_orders_that_are_not_a_bundle_are_400(hooks: HookCalls, bad_value: Any) -> None:
    body = hooks.request()
    body["context"]["draftOrders"] = bad_value
    response = hooks.post(body)
    assert response.status_code == 400
    assert "draftOrders" in _outcome(response)


def test_prefetch_value_that_is_not_a_resource_is_400(hooks: HookCalls) -> None:
    body = hooks.request()
    body["prefetch"]["conditions"] = ["not", "a", "bundle"]
    response = hooks.post(body)
    assert response.status_code == 400
    assert "conditions" in _outcome(response)


def test_unknown_members_and_extensions_are_ignored(hooks: HookCalls) -> None:
    body = hooks.request()
    body["extension"] = {"com.example.flag": {"anything": True}}
    body["someFutureMember"] = [1, 2, 3]
    body["context"]["someFutureContext"] = "x"
    response = hooks.post(body)
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_body_over_the_size_limit_is_413(app: Any) -> None:
    client = app.test_client()
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/cds-services/bzd-taper-order-sign", data=b"{" + b" " * limit + b"}",
                           content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_wrong_method_is_405_with_operation_outcome(client: FlaskClient) -> None:
    response = client.delete("/cds-services")
    assert response.status_code == 405
    assert response.get_json()["resourceType"] == "OperationOutcome"
