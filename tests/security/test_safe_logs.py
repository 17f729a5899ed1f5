"""Logs never contain tokens, names, identifiers, birth dates or resource bodies.

Every scenario runs with logging at DEBUG, its patient given a name, an MRN and a distinctive id, and the
call given a bearer token; then every log line — as our JSON formatter writes it — is searched.
"""

from __future__ import annotations

import logging

import pytest

from cds_service.logs import JsonFormatter
from tests.conftest import HookCalls, MakeApp
from tests.utils.fhir import searchset
from tests.utils.fhir_server import FhirRoutes, base_url, start_fhir_server
from tests.utils.scenarios import NAMES as SCENARIOS
from tests.utils.scenarios import expected as scenario_expected
from tests.utils.scenarios import request as scenario_request

SECRETS = ("Zelda", "Quintessa", "MRN-7734-XQ", "tok-SECRET-991", "patient-ZQ-4471", "resourceType")


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_patient_data_or_tokens_in_debug_logs(
        name: str, caplog: pytest.LogCaptureFixture, make_app: MakeApp) -> None:
    body, expected = scenario_request(name), scenario_expected(name)
    patient = body["prefetch"]["patient"]
    patient.update({"id": "patient-ZQ-4471", "name": [{"family": "Quintessa", "given": ["Zelda"]}],
                    "identifier": [{"system": "urn:mrn", "value": "MRN-7734-XQ"}]})
    body["context"]["patientId"] = "patient-ZQ-4471"
    routes = FhirRoutes()
    server = start_fhir_server(routes, keep_alive=True)
    body["fhirServer"] = base_url(server)
    body["fhirAuthorization"] = {"access_token": "tok-SECRET-991", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "bzd-taper-cds"}
    conditions = body["prefetch"].pop("conditions")  # exercise the fallback fetch too
    routes.add("Condition", searchset(*[e["resource"] for e in conditions.get("entry", [])]))
    app = make_app({"auth": "off", "log_level": "DEBUG", **expected.get("settings", {})})
    try:
        with caplog.at_level(logging.DEBUG):
            response = HookCalls(app.test_client()).post(body, expected["service"])
    finally:
        server.shutdown()
        server.server_close()
    assert routes.paths("Condition") != []
    assert response.status_code == 200
    lines = [JsonFormatter().format(record) for record in caplog.records] + [caplog.text]
    birth_date = patient.get("birthDate")
    for line in lines:
        for secret in (*SECRETS, *([birth_date] if birth_date else [])):
            assert secret not in line, f"{secret!r} leaked into the log: {line[:200]}"
    assert any("hook evaluated" in line for line in lines)
