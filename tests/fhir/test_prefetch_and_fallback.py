"""The prefetch matrix and the FHIR fallback (CDS Hooks 2.0 "Prefetch matrix", "FHIR fallback")."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
import requests
import responses

from tests.conftest import HookCalls, card_types
from tests.utils.fhir import (
    DIAZEPAM_5_MG_TABLET,
    baclofen_draft,
    condition,
    diazepam_taper_15_to_12,
    medication_request,
    patient,
    searchset,
)

FHIR = "https://ehr.example.org/fhir"
KEYS = ["patient", "medicationRequests", "medicationDispenses", "medicationStatements", "conditions",
        "observations"]


def _request(hooks: HookCalls) -> dict[str, Any]:
    return hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())


@pytest.mark.parametrize("key", KEYS)
def test_absent_key_without_fhir_server_is_412_naming_the_key(hooks: HookCalls, key: str) -> None:
    body = _request(hooks)
    del body["prefetch"][key]
    response = hooks.post(body)
    assert response.status_code == 412
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert key in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("value", [None, {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "exception", "diagnostics": "search failed"}]}])
def test_null_or_operation_outcome_without_fhir_server_is_412(hooks: HookCalls, value: Any) -> None:
    body = _request(hooks)
    body["prefetch"]["medicationRequests"] = value
    assert hooks.post(body).status_code == 412


def test_no_prefetch_at_all_without_fhir_server_is_412(hooks: HookCalls) -> None:
    body = _request(hooks)
    del body["prefetch"]
    assert hooks.post(body).status_code == 412


def test_complete_prefetch_needs_no_fhir_server(hooks: HookCalls) -> None:
    with responses.RequestsMock():  # any HTTP call would fail the test
        cards = hooks.cards(_request(hooks))
    assert card_types(cards) == [("baclofen-adjunct", "warning")]


@responses.activate
def test_absent_key_is_fetched_with_the_bearer_token(hooks: HookCalls) -> None:
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"].pop("medicationRequests")["entry"]]
    body["fhirServer"] = FHIR
    body["fhirAuthorization"] = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/MedicationRequest.read", "subject": "bzd-taper-cds"}
    search = responses.get(f"{FHIR}/MedicationRequest", json=searchset(*history))
    cards = hooks.cards(body)
    assert card_types(cards) == [("baclofen-adjunct", "warning")]
    assert search.call_count == 1
    sent = search.calls[0].request
    assert sent.headers["Authorization"] == "Bearer tok-123"
    assert sent.headers["Accept"] == "application/fhir+json"
    assert "patient=p1" in str(sent.url)


@responses.activate
@pytest.mark.parametrize("value", [None, {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "exception"}]}])
def test_null_or_operation_outcome_is_fetched(hooks: HookCalls, value: Any) -> None:
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    body["prefetch"]["medicationRequests"] = value
    body["fhirServer"] = FHIR
    responses.get(f"{FHIR}/MedicationRequest", json=searchset(*history))
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]


@responses.activate
def test_open_fhir_server_without_authorization_is_fetched_without_token(hooks: HookCalls) -> None:
    body = _request(hooks)
    del body["prefetch"]["patient"]
    body["fhirServer"] = FHIR
    read = responses.get(f"{FHIR}/Patient/p1", json=patient())
    hooks.cards(body)
    assert "Authorization" not in read.calls[0].request.headers


@responses.activate
def test_paginated_prefetch_bundle_follows_next_links(hooks: HookCalls) -> None:
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    body["fhirServer"] = FHIR
    body["prefetch"]["medicationRequests"] = searchset(history[0], next_url=f"{FHIR}/MedicationRequest?page=2")
    page2 = responses.get(f"{FHIR}/MedicationRequest", json=searchset(*history[1:]))
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]
    assert page2.call_count == 1 and "page=2" in str(page2.calls[0].request.url)


def test_paginated_prefetch_without_fhir_server_is_412(hooks: HookCalls) -> None:
    body = _request(hooks)
    body["prefetch"]["medicationRequests"]["link"] = [{"relation": "next", "url": f"{FHIR}/x?page=2"}]
    assert hooks.post(body).status_code == 412


@responses.activate
def test_next_link_to_another_server_is_never_followed(hooks: HookCalls) -> None:
    body = _request(hooks)
    body["fhirServer"] = FHIR
    body["fhirAuthorization"] = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "bzd-taper-cds"}
    body["prefetch"]["medicationRequests"]["link"] = [
        {"relation": "next", "url": "https://attacker.example.net/steal?page=2"}]
    response = hooks.post(body)  # responses fails any unregistered call, so nothing was sent there
    assert response.status_code == 412


@responses.activate
def test_endless_next_links_stop_at_the_page_bound_and_the_card_says_so(hooks: HookCalls) -> None:
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    body["fhirServer"] = FHIR
    body["prefetch"]["medicationRequests"] = searchset(*history, next_url=f"{FHIR}/MedicationRequest?page=2")
    endless = responses.get(f"{FHIR}/MedicationRequest",
                            json=searchset(next_url=f"{FHIR}/MedicationRequest?page=n"))
    cards = hooks.cards(body)
    assert endless.call_count == 9  # the first page came with the call; 10 pages in all
    assert card_types(cards) == [("baclofen-adjunct", "warning")]
    assert "medicationRequests: more pages than the service reads" in cards[0]["detail"]


@responses.activate
@pytest.mark.parametrize("failure", [
    {"status": 500, "json": {"resourceType": "OperationOutcome", "issue": []}},
    {"status": 401, "json": {}},
    {"status": 200, "body": "<html>login</html>"},
    {"body": requests.exceptions.ConnectTimeout()},
])
def test_failing_fhir_server_is_412(hooks: HookCalls, failure: dict[str, Any]) -> None:
    body = _request(hooks)
    del body["prefetch"]["conditions"]
    body["fhirServer"] = FHIR
    responses.get(f"{FHIR}/Condition", **failure)
    response = hooks.post(body)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]


@responses.activate
def test_observation_fallback_uses_the_template_codes(hooks: HookCalls) -> None:
    body = _request(hooks)
    del body["prefetch"]["observations"]
    body["fhirServer"] = FHIR
    search = responses.get(f"{FHIR}/Observation", json=searchset())
    hooks.cards(body)
    url = unquote(str(search.calls[0].request.url))
    assert "patient=p1" in url and "http://loinc.org|98979-8" in url and "http://loinc.org|2160-0" in url


def test_prefetched_condition_bundle_reporting_an_error_is_not_trusted(hooks: HookCalls) -> None:
    body = _request(hooks)
    body["prefetch"]["conditions"] = searchset(
        condition("24700007", "Multiple sclerosis"),
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly"}]},
    )
    assert hooks.post(body).status_code == 412


def test_informational_outcome_in_a_bundle_is_fine(hooks: HookCalls) -> None:
    body = _request(hooks)
    body["prefetch"]["conditions"]["entry"].append({
        "resource": {"resourceType": "OperationOutcome",
                     "issue": [{"severity": "information", "code": "informational"}]},
        "search": {"mode": "outcome"}})
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]


@responses.activate
def test_opioid_history_is_read_from_the_fhir_server_when_not_prefetched(hooks: HookCalls) -> None:
    oxycodone = medication_request(("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"), tablets=1, per_day=4,
                                   authored_on="2026-03-01", id="oxy-1")
    taper_step = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=1, authored_on="2026-03-16",
                                    status="draft", id="dzp-5", prior="dzp-10")
    body = hooks.request(drafts=[taper_step], history=diazepam_taper_15_to_12())
    history = [e["resource"] for e in body["prefetch"].pop("medicationRequests")["entry"]]
    body["fhirServer"] = FHIR
    search = responses.get(f"{FHIR}/MedicationRequest", json=searchset(*history, oxycodone))
    assert ("opioid-benzodiazepine", "warning") in card_types(hooks.cards(body))
    assert unquote(str(search.calls[0].request.url)) == f"{FHIR}/MedicationRequest?patient=p1"
