"""The prefetch matrix and the FHIR fallback (CDS Hooks 2.0 "Prefetch matrix", "FHIR fallback")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

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
from tests.utils.fhir_server import FhirRoutes, FhirTestServer, base_url

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


@pytest.fixture
def ehr(fhir_test_server: Callable[..., FhirTestServer]) -> tuple[FhirRoutes, str]:
    """The EHR's FHIR server (a real one on this machine, allowed in development) and its base URL."""
    routes = FhirRoutes()
    return routes, base_url(fhir_test_server(routes, keep_alive=True))


def test_complete_prefetch_needs_no_fhir_read(hooks: HookCalls, ehr: tuple[FhirRoutes, str]) -> None:
    routes, url = ehr
    body = _request(hooks)
    body["fhirServer"] = url
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]
    assert routes.seen == []


def test_absent_key_is_fetched_with_the_bearer_token(hooks: HookCalls, ehr: tuple[FhirRoutes, str]) -> None:
    routes, url = ehr
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"].pop("medicationRequests")["entry"]]
    body["fhirServer"] = url
    body["fhirAuthorization"] = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/MedicationRequest.read", "subject": "bzd-taper-cds"}
    routes.add("MedicationRequest", searchset(*history))
    cards = hooks.cards(body)
    assert card_types(cards) == [("baclofen-adjunct", "warning")]
    assert routes.paths() == ["/fhir/MedicationRequest?patient=p1"]
    sent = routes.seen[0].headers
    assert sent["Authorization"] == "Bearer tok-123"
    assert sent["Accept"] == "application/fhir+json"


@pytest.mark.parametrize("value", [None, {"resourceType": "OperationOutcome", "issue": [
    {"severity": "error", "code": "exception"}]}])
def test_null_or_operation_outcome_is_fetched(hooks: HookCalls, ehr: tuple[FhirRoutes, str], value: Any) -> None:
    routes, url = ehr
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    body["prefetch"]["medicationRequests"] = value
    body["fhirServer"] = url
    routes.add("MedicationRequest", searchset(*history))
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]
    assert len(routes.paths("MedicationRequest")) == 1


def test_open_fhir_server_without_authorization_is_fetched_without_token(
    hooks: HookCalls, ehr: tuple[FhirRoutes, str]
) -> None:
    routes, url = ehr
    body = _request(hooks)
    del body["prefetch"]["patient"]
    body["fhirServer"] = url
    routes.add("Patient/p1", patient())
    hooks.cards(body)
    assert routes.paths() == ["/fhir/Patient/p1"]
    assert "Authorization" not in routes.seen[0].headers


def test_paginated_prefetch_bundle_follows_next_links(hooks: HookCalls, ehr: tuple[FhirRoutes, str]) -> None:
    routes, url = ehr
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    body["fhirServer"] = url
    body["prefetch"]["medicationRequests"] = searchset(history[0], next_url=f"{url}/MedicationRequest?page=2")
    routes.add("MedicationRequest", searchset(*history[1:]))
    assert card_types(hooks.cards(body)) == [("baclofen-adjunct", "warning")]
    assert routes.paths() == ["/fhir/MedicationRequest?page=2"]


def test_paginated_prefetch_without_fhir_server_is_412(hooks: HookCalls) -> None:
    body = _request(hooks)
    body["prefetch"]["medicationRequests"]["link"] = [
        {"relation": "next", "url": "https://ehr.example.org/fhir/x?page=2"}]
    assert hooks.post(body).status_code == 412


def test_next_link_to_another_server_is_never_followed(hooks: HookCalls, ehr: tuple[FhirRoutes, str],
                                                       fhir_test_server: Callable[..., FhirTestServer]) -> None:
    routes, url = ehr
    attacker = FhirRoutes()
    body = _request(hooks)
    body["fhirServer"] = url
    body["fhirAuthorization"] = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "bzd-taper-cds"}
    body["prefetch"]["medicationRequests"]["link"] = [
        {"relation": "next", "url": f"{base_url(fhir_test_server(attacker))}/steal?page=2"}]
    assert hooks.post(body).status_code == 412
    assert attacker.seen == [] and routes.seen == []


def test_endless_next_links_stop_at_the_page_bound_and_the_card_says_so(
    hooks: HookCalls, ehr: tuple[FhirRoutes, str]
) -> None:
    routes, url = ehr
    body = _request(hooks)
    history = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    body["fhirServer"] = url
    body["prefetch"]["medicationRequests"] = searchset(*history, next_url=f"{url}/MedicationRequest?page=2")
    routes.add("MedicationRequest", searchset(next_url=f"{url}/MedicationRequest?page=n"))
    cards = hooks.cards(body)
    assert len(routes.paths("MedicationRequest")) == 9  # the first page came with the call; 10 pages in all
    assert card_types(cards) == [("baclofen-adjunct", "warning")]
    assert "medicationRequests: more pages than the service reads" in cards[0]["detail"]


@pytest.mark.parametrize("status, answer", [
    (500, {"resourceType": "OperationOutcome", "issue": []}),
    (401, {}),
    (200, b"<html>login</html>"),
    (200, b'{"resourceType": "Bundle", "entry": [{"resource": {"value": NaN}}]}'),
])
def test_failing_fhir_server_is_412(hooks: HookCalls, ehr: tuple[FhirRoutes, str], status: int, answer: Any) -> None:
    routes, url = ehr
    body = _request(hooks)
    del body["prefetch"]["conditions"]
    body["fhirServer"] = url
    routes.add("Condition", answer, status)
    response = hooks.post(body)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]
    assert len(routes.paths("Condition")) == 1


def test_unreachable_fhir_server_is_412(hooks: HookCalls) -> None:
    body = _request(hooks)
    del body["prefetch"]["conditions"]
    body["fhirServer"] = "http://127.0.0.1:9/fhir"  # nothing listens there
    response = hooks.post(body)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]


def test_observation_fallback_uses_the_template_codes(hooks: HookCalls, ehr: tuple[FhirRoutes, str]) -> None:
    routes, url = ehr
    body = _request(hooks)
    del body["prefetch"]["observations"]
    body["fhirServer"] = url
    routes.add("Observation", searchset())
    hooks.cards(body)
    [path] = routes.paths("Observation")
    assert "patient=p1" in path and "http://loinc.org|98979-8" in unquote(path)
    assert "http://loinc.org|2160-0" in unquote(path)


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


def test_opioid_history_is_read_from_the_fhir_server_when_not_prefetched(
    hooks: HookCalls, ehr: tuple[FhirRoutes, str]
) -> None:
    routes, url = ehr
    oxycodone = medication_request(("1049621", "oxycodone hydrochloride 5 MG Oral Tablet"), tablets=1, per_day=4,
                                   authored_on="2026-03-01", id="oxy-1")
    taper_step = medication_request(DIAZEPAM_5_MG_TABLET, tablets=1, per_day=1, authored_on="2026-03-16",
                                    status="draft", id="dzp-5", prior="dzp-10")
    body = hooks.request(drafts=[taper_step], history=diazepam_taper_15_to_12())
    history = [e["resource"] for e in body["prefetch"].pop("medicationRequests")["entry"]]
    body["fhirServer"] = url
    routes.add("MedicationRequest", searchset(*history, oxycodone))
    assert ("opioid-benzodiazepine", "warning") in card_types(hooks.cards(body))
    assert routes.paths() == ["/fhir/MedicationRequest?patient=p1"]


@pytest.mark.parametrize(("environ", "fetch_threads", "share"), [({}, 96, 8), ({"CDS_THREADS": "8"}, 48, 4)])
def test_every_request_thread_of_a_worker_can_have_all_its_searches_in_flight(
        hooks: HookCalls, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], fetch_threads: int,
        share: int) -> None:
    import cds_service.evaluate as evaluate
    from cds_service.config import Settings
    from cds_service.fhir.prefetch import _Fetchers, fallback_share
    from cds_service.schemas.hook_request import load_hook_request
    from cds_service.services import SERVICES, prefetch_templates

    made: list[evaluate.FhirClient] = []

    class Recording(evaluate.FhirClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(evaluate, "FhirClient", Recording)
    body = {**_request(hooks), "fhirServer": f"http://fhir.example/threads-{fetch_threads}"}
    settings = Settings.from_env({**environ, "CDS_AUTH": "off"})
    evaluate.evaluate_hook_call(SERVICES["bzd-taper-order-sign"], load_hook_request(body, "order-sign"), settings)
    client = made[0]
    assert client.searches_in_flight == fetch_threads
    executor = _Fetchers().executor(client.searches_in_flight)
    assert executor._max_workers == fetch_threads
    executor.shutdown()
    assert client._pool is not None and client._pool._max_idle == fetch_threads
    assert fallback_share(client.searches_in_flight, len(prefetch_templates())) == share


@pytest.mark.parametrize("value", ["not a number", "0", "-3", "2.5"])
def test_a_malformed_thread_count_is_refused(value: str) -> None:
    from cds_service.config import Settings, SettingsError

    with pytest.raises(SettingsError, match="CDS_THREADS must be a whole number"):
        Settings.from_env({"CDS_THREADS": value})
