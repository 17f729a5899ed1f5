"""``fhirServer`` is chosen by the caller: the fallback must not become a way to reach internal networks, to
leak the bearer token, to learn what a host answers, or to hold a worker. Against real local servers."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import HookCalls, MakeApp
from tests.utils.ehr import BASE, Ehr, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12, patient, searchset
from tests.utils.fhir_server import Behaviour, send_json

ISSUER, OTHER = "https://ehr.example", "https://other-ehr.example"
Start = Callable[[Behaviour], str]


def hook_call(fhir_server: str, *missing: str) -> dict[str, Any]:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    for key in missing or ("conditions",):
        del body["prefetch"][key]
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "bzd-taper-cds"}
    return body


class Recorder:
    """A server behaviour that remembers what it was asked, then answers like ``answer``."""

    def __init__(self, answer: Behaviour | None = None) -> None:
        self.paths: list[str] = []
        self.authorizations: list[str | None] = []
        self._answer = answer or empty_searchset

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        self.paths.append(handler.path)
        self.authorizations.append(handler.headers.get("Authorization"))
        self._answer(handler)


def empty_searchset(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, searchset())


@pytest.fixture
def production(tmp_path: Path, make_app: MakeApp) -> Callable[..., Flask]:
    """An app with client JWTs required (production), trusting two EHRs; ``fhir_servers`` for the first."""

    def make(fhir_servers: list[str] | None = None, **settings: Any) -> Flask:
        trust = trust_file(tmp_path, {ISSUER: {"fhir_servers": fhir_servers} if fhir_servers else {}, OTHER: {}})
        return make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE, **settings})

    return make


def assert_412_without_detail(response: Any, *keys: str) -> None:
    assert response.status_code == 412, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"] == (
        f"prefetch data missing or incomplete: {', '.join(keys or ('conditions',))}; "
        "and they could not be obtained from the FHIR server")


def assert_refused(response: Any) -> None:
    if response.status_code == 400:  # a spelling the request schema already refuses as a URL
        assert response.get_json()["issue"][0]["diagnostics"] == "invalid hook request: fhirServer: Not a valid URL."
    else:
        assert_412_without_detail(response)


def loopback_spellings(url: str) -> list[str]:
    port = url.split(":")[2].split("/")[0]
    return [url, f"http://localhost:{port}/fhir", f"http://2130706433:{port}/fhir", f"http://0x7f.1:{port}/fhir",
            f"http://[::ffff:127.0.0.1]:{port}/fhir", f"http://user:pw@127.0.0.1:{port}/fhir"]


def test_production_refuses_loopback_in_every_spelling(fhir_server: Start, production: Callable[..., Flask]) -> None:
    recorder = Recorder()
    url = fhir_server(recorder)
    ehr = Ehr(production().test_client(), ISSUER)
    for spelling in loopback_spellings(url):
        assert_refused(ehr.call(hook_call(spelling)))
    assert recorder.paths == [], "no request may reach a loopback server"


def test_private_link_local_and_userinfo_urls_are_refused_without_a_connection(
    production: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before connecting: not even a TCP handshake reaches the address (the service is no port scanner)."""
    sockets: list[tuple[Any, ...]] = []

    def no_socket(*args: Any) -> socket.socket:
        sockets.append(args)
        raise OSError("the test allows no connection")

    monkeypatch.setattr(socket, "socket", no_socket)
    ehr = Ehr(production().test_client(), ISSUER)
    for url in ("http://10.0.0.1:9/fhir", "http://169.254.169.254/latest", "http://192.168.1.1/fhir",
                "http://[fd00::1]/fhir", "https://ehr.example:secret@ehr.example/fhir", "ftp://ehr.example/fhir",
                "file:///etc/passwd"):
        assert_refused(ehr.call(hook_call(url)))
    assert sockets == []


def test_an_allow_listed_fhir_server_is_used_even_on_a_private_address(
    fhir_server: Start, production: Callable[..., Flask]
) -> None:
    recorder = Recorder()
    url = fhir_server(recorder)
    app = production(fhir_servers=[url])
    assert Ehr(app.test_client(), ISSUER).call(hook_call(url)).status_code == 200
    assert recorder.paths and recorder.authorizations == ["Bearer secret-token"]
    # The list is the first EHR's: another client naming that server is refused, and nothing is sent.
    assert_412_without_detail(Ehr(app.test_client(), OTHER).call(hook_call(url)))
    assert len(recorder.paths) == 1
    # With a list, only listed servers: a public address off the list is refused too.
    assert_412_without_detail(Ehr(app.test_client(), ISSUER).call(hook_call("https://ehr.example.org/fhir")))


def test_cds_fhir_allowed_lists_servers_for_every_client(fhir_server: Start, production: Callable[..., Flask],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    url = fhir_server(recorder)
    monkeypatch.setenv("CDS_FHIR_ALLOWED", url + "/")
    assert Ehr(production().test_client(), OTHER).call(hook_call(url)).status_code == 200
    assert len(recorder.paths) == 1


def test_the_412_is_the_same_whatever_the_server_did(fhir_server: Start, make_app: MakeApp) -> None:
    """Refused connection, 500, 401, 404 and HTML all read alike: the answer is no oracle for a scan."""
    hooks = HookCalls(make_app({"auth": "off"}).test_client())

    def status(code: int) -> Behaviour:
        return lambda handler: send_json(handler, {"resourceType": "OperationOutcome", "issue": []}, code)

    for behaviour in (status(500), status(401), status(404)):
        assert_412_without_detail(hooks.post(hook_call(fhir_server(behaviour))))
    assert_412_without_detail(hooks.post(hook_call("http://127.0.0.1:9/fhir")))  # nothing listens: refused


def test_a_404_for_the_context_patient_is_412_not_an_empty_record(fhir_server: Start, make_app: MakeApp) -> None:
    hooks = HookCalls(make_app({"auth": "off"}).test_client())

    def no_patient(handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/fhir/Patient/"):
            send_json(handler, {"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found"}]}, 404)
        else:
            empty_searchset(handler)

    assert_412_without_detail(hooks.post(hook_call(fhir_server(no_patient), "patient")), "patient")


def test_redirects_are_not_followed(fhir_server: Start, make_app: MakeApp) -> None:
    elsewhere = Recorder()
    target = fhir_server(elsewhere)

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", target + "/Condition?patient=p1")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    redirector = Recorder(redirect)
    hooks = HookCalls(make_app({"auth": "off"}).test_client())
    assert_412_without_detail(hooks.post(hook_call(fhir_server(redirector))))
    assert len(redirector.paths) == 1 and elsewhere.paths == []


def test_next_links_stay_under_the_base_url_and_the_token_goes_nowhere_else(
        fhir_server: Start, make_app: MakeApp) -> None:
    recorder = Recorder()
    url = fhir_server(recorder)
    hooks = HookCalls(make_app({"auth": "off"}).test_client())
    for escape in (f"{url}/../admin?page=2", f"{url}/%2e%2e/admin?page=2", f"{url}-other/Condition?page=2",
                   url.replace("/fhir", "/admin?page=2")):
        body = hook_call(url, "patient")
        body["prefetch"]["conditions"] = searchset(next_url=escape)
        body["prefetch"]["patient"] = patient()
        assert_412_without_detail(hooks.post(body))
    assert recorder.paths == []


def test_one_deadline_covers_dripping_headers(
        fhir_server: Start, caplog: pytest.LogCaptureFixture, make_app: MakeApp) -> None:
    def drip_headers(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        for n in range(50):  # one header line every 0.1 s: each read beats any per-read timeout
            handler.send_header(f"X-Drip-{n}", "1")
            handler.flush_headers()
            time.sleep(0.1)

    hooks = HookCalls(make_app({"auth": "off", "fhir_timeout_s": 1.0}).test_client())
    with caplog.at_level(logging.WARNING, "cds_service.fhir"):
        assert_412_without_detail(hooks.post(hook_call(fhir_server(drip_headers))))
    # Undisturbed, the drip would last 5 s and end without a blank line: a broken answer, not a timeout.
    assert [r.reason for r in caplog.records if r.getMessage() == "FHIR fallback failed"] == ["conditions: timed out"]


def test_one_deadline_covers_a_chain_of_pages_across_keys(fhir_server: Start, make_app: MakeApp) -> None:
    def slow_pages(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.25)
        page = handler.path.rsplit("page=", 1)[-1] if "page=" in handler.path else "0"
        nxt = handler.path.split("?")[0] + f"?page={int(page) + 1}" if page.isdigit() else None
        send_json(handler, searchset(next_url=f"http://{handler.headers['Host']}{nxt}" if nxt else None))

    recorder = Recorder(slow_pages)
    hooks = HookCalls(make_app({"auth": "off", "fhir_timeout_s": 1.0}).test_client())
    response = hooks.post(hook_call(fhir_server(recorder), "conditions", "observations"))
    # Without the deadline both keys would read their ten pages (2.5 s each) and the call would answer 200 with
    # a "more pages than the service reads" note.
    assert_412_without_detail(response, "conditions", "observations")
    assert len(recorder.paths) < 20


EMBEDDED_PRIVATE_IPV4 = (
    "http://[64:ff9b::a9fe:a9fe]/latest",  # NAT64 (RFC 6052) of 169.254.169.254, the cloud metadata address
    "http://[64:ff9b::7f00:1]/fhir",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a00:1]/fhir",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1::a9fe:a9fe]/latest",  # local-use NAT64 (RFC 8215)
    "http://[::a9fe:a9fe]/latest",  # IPv4-compatible ::169.254.169.254
    "http://[::7f00:1]/fhir",  # IPv4-compatible ::127.0.0.1
    "http://[2002:a9fe:a9fe::1]/latest",  # 6to4 of 169.254.169.254
    "http://[2002:c0a8:101::1]/fhir",  # 6to4 of 192.168.1.1
    "http://[fec0::1]/fhir",  # site-local (deprecated, still routed in some networks)
    "http://192.0.0.8/fhir",  # IPv4 dummy address (RFC 7600)
    "http://[::ffff:a9fe:a9fe]/latest",  # IPv4-mapped, already refused before
)


def test_ipv6_addresses_embedding_a_private_ipv4_address_are_refused_without_a_connection(
    production: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a NAT64/DNS64 network ``64:ff9b::a9fe:a9fe`` reaches the metadata service: every IPv6 form that
    carries an IPv4 address is judged by that address, and site-local and 192.0.0.0/24 are not public."""
    sockets: list[tuple[Any, ...]] = []

    def no_socket(*args: Any) -> socket.socket:
        sockets.append(args)
        raise OSError("the test allows no connection")

    monkeypatch.setattr(socket, "socket", no_socket)
    ehr = Ehr(production().test_client(), ISSUER)
    for url in EMBEDDED_PRIVATE_IPV4:
        assert_refused(ehr.call(hook_call(url)))
    assert sockets == []


@pytest.mark.parametrize(("address", "public"), [
    ("64:ff9b::808:808", True), ("64:ff9b::a9fe:a9fe", False), ("::808:808", False), ("::a9fe:a9fe", False),
    ("2002:808:808::1", True), ("2002:a9fe:a9fe::1", False), ("2606:4700::1111", True), ("8.8.8.8", True),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False), ("fec0::1", False), ("192.0.0.8", False),
    ("224.0.0.1", False), ("::1", False), ("::", False), ("::ffff:8.8.8.8", True), ("::ffff:10.1.2.3", False),
])
def test_an_embedded_ipv4_address_decides_whether_an_ipv6_address_is_public(address: str, public: bool) -> None:
    from cds_service.fhir.client import FhirAccess, FhirUnavailable
    if public:
        FhirAccess().check_address(address)
    else:
        with pytest.raises(FhirUnavailable):
            FhirAccess().check_address(address)


@pytest.mark.parametrize("escape", ["/..;/admin", "/%252e%252e/admin", "/%25252e%25252e/admin", "/.;/../admin",
                                    "/%2e%2e;jsessionid=1/admin", "/..%255cadmin"])
def test_allow_listed_server_paths_cannot_escape_the_listed_base(
    fhir_server: Start, production: Callable[..., Flask], escape: str
) -> None:
    """A server (or a proxy before it) that decodes twice or reads ``..;`` as ``..`` would take the bearer
    token out of the allow-listed base: both as ``fhirServer`` and as a ``next`` link."""
    recorder = Recorder()
    url = fhir_server(recorder)
    app = production(fhir_servers=[url])
    assert_412_without_detail(Ehr(app.test_client(), ISSUER).call(hook_call(url + escape)))
    assert recorder.paths == []
    escaping = searchset(next_url=url + escape + "/MedicationRequest?page=2")
    body = hook_call(url)
    body["prefetch"]["medicationRequests"] = escaping
    assert_412_without_detail(Ehr(app.test_client(), ISSUER).call(body), "medicationRequests")
    assert all(path.startswith("/fhir/Condition") for path in recorder.paths), recorder.paths
