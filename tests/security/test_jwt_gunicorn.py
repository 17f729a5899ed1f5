"""The JWT matrix of cds-hooks.md §16 against gunicorn on 127.0.0.1 (issue #5 "Done when").

A valid ES384 (and RS384) token from a trusted test issuer is accepted; ``alg: none``, HS256 signed with
the public key as secret, wrong audience, expired, unknown issuer, unknown kid, untrusted ``jku`` and a
replayed ``jti`` are rejected with 401 and no detail. Preflight works without a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.utils.server import gunicorn

ISSUER = "https://ehr.test.example"
JKU = "https://ehr.test.example/.well-known/jwks.json"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("trust")
    trust = folder / "issuers.json"
    trust.write_text(json.dumps({ISSUER: {
        "jwks": {"keys": [_public_jwk(EC_KEY, "ec-1", "ES384"), _public_jwk(RSA_KEY, "rsa-1", "RS384")]},
        "jku": [JKU]}}))
    with gunicorn({"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(trust), "CDS_CORS_ORIGINS": "https://sandbox.example",
                   "DATABASE_URL": f"sqlite:///{folder}/cds.db"}) as base:
        yield base


def token(aud: str, *, key: Any = EC_KEY, alg: str = "ES384", kid: str = "ec-1", headers: dict[str, Any] | None = None,
          **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **(headers or {})})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def discovery(server: str, bearer: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return requests.get(f"{server}/cds-services", headers=headers, timeout=5)


def test_valid_es384_and_rs384_tokens_are_accepted(server: str) -> None:
    assert discovery(server, token(f"{server}/cds-services")).status_code == 200
    assert discovery(server, token(f"{server}/cds-services", key=RSA_KEY, alg="RS384", kid="rsa-1")).status_code == 200


def test_audience_as_an_array_and_a_listed_jku_are_accepted(server: str) -> None:
    bearer = token([f"{server}/cds-services"], headers={"jku": JKU})  # type: ignore[arg-type]
    assert discovery(server, bearer).status_code == 200


def test_service_call_audience_is_the_service_url(server: str) -> None:
    url = f"{server}/cds-services/bzd-taper-order-sign"
    body = {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
            "context": {"patientId": "p1", "userId": "Practitioner/1", "draftOrders": {"resourceType": "Bundle"}},
            "prefetch": {k: {"resourceType": "Bundle", "type": "searchset"} for k in (
                "medicationRequests", "medicationDispenses", "medicationStatements", "conditions", "observations")}
            | {"patient": {"resourceType": "Patient", "id": "p1"}}}
    ok = requests.post(url, json=body, headers={"Authorization": f"Bearer {token(url)}"}, timeout=5)
    assert ok.status_code == 200 and ok.json() == {"cards": []}
    wrong = requests.post(url, json=body, headers={"Authorization": f"Bearer {token(f'{server}/cds-services')}"},
                          timeout=5)
    assert wrong.status_code == 401


def _rejected(server: str, bearer: str | None) -> None:
    response = discovery(server, bearer)
    assert response.status_code == 401
    assert response.json()["issue"][0]["diagnostics"] == "unauthorized"


def test_missing_token(server: str) -> None:
    _rejected(server, None)


def test_alg_none(server: str) -> None:
    now = int(time.time())
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-1"}).encode())
    payload = _b64(json.dumps({"iss": ISSUER, "aud": f"{server}/cds-services", "iat": now, "exp": now + 60,
                               "jti": uuid.uuid4().hex}).encode())
    _rejected(server, f"{header}.{payload}.")


def test_hs256_signed_with_the_public_key_as_secret(server: str) -> None:
    now = int(time.time())
    secret = EC_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = ".".join([
        _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}).encode()),
        _b64(json.dumps({"iss": ISSUER, "aud": f"{server}/cds-services", "iat": now, "exp": now + 60,
                         "jti": uuid.uuid4().hex}).encode()),
    ])
    signature = _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
    _rejected(server, f"{signing_input}.{signature}")


def test_wrong_audience_including_a_proxy_rewritten_url(server: str) -> None:
    _rejected(server, token("https://other.example/cds-services"))
    _rejected(server, token(f"{server.replace('127.0.0.1', 'localhost')}/cds-services"))


def test_expired(server: str) -> None:
    past = int(time.time()) - 3600
    _rejected(server, token(f"{server}/cds-services", iat=past - 300, exp=past))


def test_unknown_issuer(server: str) -> None:
    _rejected(server, token(f"{server}/cds-services", iss="https://intruder.example"))


def test_unknown_kid(server: str) -> None:
    _rejected(server, token(f"{server}/cds-services", kid="not-a-key"))


def test_untrusted_jku_is_rejected_and_never_fetched(server: str) -> None:
    fetched: list[str] = []

    class KeyServer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps({"keys": [_public_jwk(EC_KEY, "ec-1", "ES384")]}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    attacker = ThreadingHTTPServer(("127.0.0.1", 0), KeyServer)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        jku = f"http://127.0.0.1:{attacker.server_address[1]}/jwks.json"
        _rejected(server, token(f"{server}/cds-services", headers={"jku": jku}))
    finally:
        attacker.shutdown()
        attacker.server_close()
    assert fetched == []


def test_replayed_jti_is_rejected_across_workers(server: str) -> None:
    bearer = token(f"{server}/cds-services")
    assert discovery(server, bearer).status_code == 200
    for _ in range(4):  # two workers: whichever answers, the jti is already used
        _rejected(server, bearer)


def test_preflight_needs_no_token_and_allows_the_configured_origin(server: str) -> None:
    response = requests.options(f"{server}/cds-services/bzd-taper-order-sign", timeout=5, headers={
        "Origin": "https://sandbox.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
        "Access-Control-Request-Private-Network": "true"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://sandbox.example"
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert response.headers["Access-Control-Allow-Private-Network"] == "true"


def test_other_origins_get_no_cors_headers(server: str) -> None:
    response = requests.options(f"{server}/cds-services", timeout=5, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in response.headers
