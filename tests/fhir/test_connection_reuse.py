"""Keep-alive FHIR connections (cds_service/fhir/client.py): reused by the next calls of the same tenant to the same
server, never by another tenant, never carrying another call's token, and never inherited by a forked worker.
Against a real local HTTP/1.1 server that counts the TCP connections it accepts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cds_service.fhir.client import FhirAccess, FhirClient, FhirUnavailable
from cds_service.fhir.prefetch import resolve_prefetch
from cds_service.services import prefetch_templates
from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import BASE, Ehr, trust_file
from tests.utils.fhir import baclofen_draft, condition, diazepam_taper_15_to_12, patient, searchset
from tests.utils.fhir_server import FhirRoutes, FhirTestServer, base_url, slow_drip

ISSUER, OTHER = "https://ehr.example", "https://other-ehr.example"
StartServer = Callable[..., FhirTestServer]


def ehr_server(start: StartServer) -> tuple[FhirRoutes, FhirTestServer, str]:
    routes = FhirRoutes()
    routes.add("Patient/p1", patient())
    for kind in ("MedicationRequest", "MedicationDispense", "MedicationStatement", "Observation"):
        routes.add(kind, searchset())
    routes.add("Condition", searchset(condition("24700007", "Multiple sclerosis")))
    server = start(routes, keep_alive=True)
    return routes, server, base_url(server)


def call_missing_conditions(url: str, token: str | None = None) -> dict[str, Any]:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    del body["prefetch"]["conditions"]
    body["fhirServer"] = url
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "bzd-taper-cds"}
    return body


def test_calls_to_the_same_server_reuse_one_connection_and_never_another_calls_token(
    fhir_test_server: StartServer, make_app: MakeApp,
) -> None:
    routes, server, url = ehr_server(fhir_test_server)
    hooks = HookCalls(make_app({"auth": "off"}).test_client())
    for token in ("token-of-call-a", "token-of-call-b", None):
        assert hooks.post(call_missing_conditions(url, token)).status_code == 200
    assert server.connections == 1
    assert len({seen.client_port for seen in routes.seen}) == 1
    assert [seen.headers.get("Authorization") for seen in routes.seen] == [
        "Bearer token-of-call-a", "Bearer token-of-call-b", None]


def test_another_tenant_never_uses_a_kept_connection(
        fhir_test_server: StartServer, tmp_path: Path, make_app: MakeApp) -> None:
    routes, server, url = ehr_server(fhir_test_server)
    trust = trust_file(tmp_path, {ISSUER: {"fhir_servers": [url]}, OTHER: {"fhir_servers": [url]}})
    app = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE})
    for issuer in (ISSUER, OTHER, ISSUER, OTHER):
        assert Ehr(app.test_client(), issuer).call(call_missing_conditions(url)).status_code == 200
    first, other, first_again, other_again = (seen.client_port for seen in routes.seen)
    assert first == first_again and other == other_again  # each tenant reuses its own connection
    assert first != other
    assert server.connections == 2


def test_a_new_connection_is_still_checked_while_another_tenant_keeps_one(
    fhir_test_server: StartServer, tmp_path: Path, make_app: MakeApp
) -> None:
    """The loopback server is allow-listed for the first EHR only: its kept connection does not let the other
    EHR (for which only public addresses are allowed) reach the same server."""
    routes, server, url = ehr_server(fhir_test_server)
    trust = trust_file(tmp_path, {ISSUER: {"fhir_servers": [url]}, OTHER: {}})
    app = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE})
    assert Ehr(app.test_client(), ISSUER).call(call_missing_conditions(url)).status_code == 200
    assert Ehr(app.test_client(), OTHER).call(call_missing_conditions(url)).status_code == 412
    assert len(routes.seen) == 1 and server.connections == 1


def fetch_everything(url: str) -> dict[str, list[dict[str, Any]]]:
    """The whole record by fallback (six searches at once), as one call of a worker does it."""
    client = FhirClient(url, access_token=None, timeout_s=5.0, max_pages=10, max_requests=60, searches_in_flight=48,
                        access=FhirAccess(allow_loopback=True))
    try:
        return resolve_prefetch(prefetch_templates(), {}, {"patientId": "p1"}, client).resources
    finally:
        client.close()


def deadline_ends(url: str) -> bool:
    """Whether a server dripping its answer for 20 s is cut off by a 0.5 s deadline (the child's own deadline
    thread: the parent's does not exist in the child)."""
    client = FhirClient(url, access_token=None, timeout_s=0.5, max_pages=10, max_requests=60, searches_in_flight=48,
                        access=FhirAccess(allow_loopback=True))
    try:
        client.get("Condition?patient=p1")
    except FhirUnavailable as exc:
        return str(exc) == "timed out"
    finally:
        client.close()
    return False


def test_a_forked_worker_opens_its_own_connections_and_leaves_the_parents_alone(
    fhir_test_server: StartServer,
) -> None:
    """gunicorn loads the app, then forks its workers: a connection (or a fetch thread) of the parent must not be
    used by a child, where two processes would read each other's answers off one socket."""
    routes, _server, url = ehr_server(fhir_test_server)

    def ports_of_next_fetch() -> set[int]:
        before = len(routes.seen)
        assert len(fetch_everything(url)) == 6
        return {seen.client_port for seen in routes.seen[before:]}

    parent = ports_of_next_fetch()  # kept for reuse
    before = len(routes.seen)
    dripping = base_url(fhir_test_server(slow_drip))
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        status = 1
        try:
            status = 0 if fetch_everything(url)["conditions"] and deadline_ends(dripping) else 2
        finally:
            os._exit(status)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    in_child = {seen.client_port for seen in routes.seen[before:]}
    assert len(routes.seen) == before + 6 and not in_child & parent
    parent_again = ports_of_next_fetch()
    assert parent_again & parent, "the parent's kept connections still work"
    assert not parent_again & in_child
