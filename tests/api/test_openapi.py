"""``GET /openapi.json`` describes every endpoint of docs/service-contract.md §2, and what they answer matches it."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from flask import Flask
from flask.testing import FlaskClient

from cds_service.schemas.taper_plan_query import TaperPlanQuery
from tests.conftest import HookCalls
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def _matches_declared_schema(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": document["components"]},
                        cls=jsonschema.Draft202012Validator)


def test_every_route_of_the_service_is_described_with_its_methods(app: Flask, client: FlaskClient) -> None:
    described = {(path, method.upper()) for path, item in _document(client)["paths"].items() for method in item}
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).replace("{service_id}", "{id}"), method)
              for rule in app.url_map.iter_rules() if rule.endpoint != "static" and not rule.rule.endswith("/")
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert routes == described


def test_every_taper_plan_parameter_is_described(client: FlaskClient) -> None:
    parameters = {p["name"] for p in _document(client)["paths"]["/taper-plan"]["get"]["parameters"]}
    assert parameters == set(TaperPlanQuery().fields)


def test_the_hook_call_declares_every_error_status_of_the_contract(client: FlaskClient) -> None:
    responses = _document(client)["paths"]["/cds-services/{id}"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "404", "412", "413", "415", "429"}
    assert all(responses[s]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/"
                                                                          "OperationOutcome"}
               for s in responses if s != "200")


def test_answers_of_a_call_feedback_and_snoozes_match_their_declared_schemas(client: FlaskClient) -> None:
    document = _document(client)
    hooks = HookCalls(client)
    call = hooks.post(hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    _matches_declared_schema(document, "/cds-services/{id}", "post", 200, call.get_json())
    card = call.get_json()["cards"][0]
    feedback = client.post("/cds-services/bzd-taper-order-sign/feedback", json={"feedback": [{
        "card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-04T08:00:00Z",
        "overrideReason": {"userComment": "reviewed with the patient"}}]})
    assert feedback.status_code == 200, feedback.get_data(as_text=True)
    _matches_declared_schema(document, "/cds-services/{id}/feedback", "post", 200, feedback.get_json())
    snoozes = client.get("/snoozes")
    _matches_declared_schema(document, "/snoozes", "get", 200, snoozes.get_json())
    cleared = client.delete("/snoozes?patientId=p1")
    _matches_declared_schema(document, "/snoozes", "delete", 200, cleared.get_json())
    unknown = client.post("/cds-services/no-such-service", json={})
    _matches_declared_schema(document, "/cds-services/{id}", "post", 404, unknown.get_json())
