"""FHIR fallback over HTTPS (what production uses), against a real local TLS server: the certificate and the host
name are verified, and a kept-alive TLS connection is reused like a plain one."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cds_service.fhir import client as fhir_client
from tests.conftest import HookCalls, MakeApp
from tests.utils.fhir import baclofen_draft, condition, diazepam_taper_15_to_12, searchset
from tests.utils.fhir_server import FhirRoutes, FhirTestServer


@pytest.fixture
def tls_server(tmp_path: Path, fhir_test_server: Callable[..., FhirTestServer]) -> Iterator[
        tuple[FhirRoutes, FhirTestServer, str, Path]]:
    """A keep-alive FHIR server on https://127.0.0.1 with a self-signed certificate for that address."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "local FHIR test server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    routes = FhirRoutes()
    routes.add("Condition", searchset(condition("24700007", "Multiple sclerosis")))
    server = fhir_test_server(routes, keep_alive=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield routes, server, f"https://127.0.0.1:{server.server_address[1]}/fhir", tmp_path / "cert.pem"


def call(url: str) -> dict[str, object]:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    del body["prefetch"]["conditions"]
    body["fhirServer"] = url
    return body


def test_a_trusted_certificate_is_used_and_its_connection_kept(
    tls_server: tuple[FhirRoutes, FhirTestServer, str, Path], monkeypatch: pytest.MonkeyPatch, make_app: MakeApp
) -> None:
    routes, server, url, cert = tls_server
    monkeypatch.setattr(fhir_client, "_TLS", ssl.create_default_context(cafile=str(cert)))
    hooks = HookCalls(make_app({"auth": "off"}).test_client())
    for _ in range(2):
        assert hooks.post(call(url)).status_code == 200
    assert len(routes.paths("Condition")) == 2 and server.connections == 1
    # The certificate names 127.0.0.1 only: the same server called by another name is refused.
    assert hooks.post(call(url.replace("127.0.0.1", "localhost"))).status_code == 412
    assert len(routes.paths("Condition")) == 2


def test_a_certificate_from_no_trusted_authority_is_refused(
    tls_server: tuple[FhirRoutes, FhirTestServer, str, Path], make_app: MakeApp,
) -> None:
    routes, _server, url, _cert = tls_server
    hooks = HookCalls(make_app({"auth": "off"}).test_client())
    response = hooks.post(call(url))
    assert response.status_code == 412
    assert routes.seen == []
