"""Discovery (CDS Hooks 2.0 "Discovery"; docs/service-contract.md §3)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.utils.cards import assert_no_empty_members

EXPECTED = {
    "bzd-taper-order-sign": "order-sign",
    "bzd-taper-order-select": "order-select",
    "bzd-taper-medication-prescribe": "medication-prescribe",
}
OBSERVATION_CODES = {
    "98979-8", "98980-6", "62238-1", "48642-3", "48643-1", "88294-4", "88293-6", "77147-7", "69405-9",
    "50044-7", "70969-1", "50210-4", "94677-2", "33914-3", "2160-0", "38483-4", "82810-3", "2106-3",
    "29463-7", "3141-9", "57979-7",
}


def test_discovery_lists_the_three_services_with_their_hooks(client: FlaskClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.content_type.startswith("application/json")
    services = response.get_json()["services"]
    assert {s["id"]: s["hook"] for s in services} == EXPECTED
    for service in services:
        assert isinstance(service["title"], str) and isinstance(service["description"], str)
    assert_no_empty_members(response.get_json())


def test_every_service_declares_the_contract_prefetch_templates(client: FlaskClient) -> None:
    for service in client.get("/cds-services").get_json()["services"]:
        prefetch = service["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        assert prefetch["medicationRequests"] == "MedicationRequest?patient={{context.patientId}}"
        assert prefetch["medicationDispenses"] == "MedicationDispense?patient={{context.patientId}}"
        assert prefetch["medicationStatements"] == "MedicationStatement?patient={{context.patientId}}"
        assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"
        prefix = "Observation?patient={{context.patientId}}&code="
        assert prefetch["observations"].startswith(prefix)
        codes = prefetch["observations"].removeprefix(prefix).split(",")
        assert all(code.startswith("http://loinc.org|") for code in codes)
        assert {code.split("|")[1] for code in codes} == OBSERVATION_CODES


def test_prefetch_tokens_are_only_root_level_context_fields(client: FlaskClient) -> None:
    for service in client.get("/cds-services").get_json()["services"]:
        for template in service["prefetch"].values():
            tokens = re.findall(r"\{\{(.*?)\}\}", template)
            assert tokens and all(token == "context.patientId" for token in tokens)
