"""An issuer whose keys come from a ``jwks_url``: a token cannot make the service fetch it at will, and no call
waits on a slow or dripping endpoint longer than one fetch's deadline (README "Security": client JWTs)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient

from cds_service.security import jwt_auth
from tests.conftest import MakeApp
from tests.utils.ehr import BASE
from tests.utils.fhir_server import FhirTestServer, base_url, slow_drip, start_fhir_server

ISSUER = "https://ehr.example"
JWKS_URL = "https://ehr.example/.well-known/jwks.json"
KEY = ec.generate_private_key(ec.SECP384R1())


def app_trusting(tmp_path: Path, jwks_url: str, make_app: MakeApp) -> FlaskClient:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({ISSUER: {"jwks_url": jwks_url}}))
    return make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE}).test_client()


def discovery(client: FlaskClient, kid: str, **claims: Any) -> int:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex,
               **claims}
    token = jwt.encode(payload, KEY, algorithm="ES384", headers={"kid": kid})
    return int(client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code)


@responses.activate
def test_after_a_failed_fetch_no_key_id_refetches_until_the_back_off_is_over(tmp_path: Path, make_app: MakeApp) -> None:
    failing = responses.get(JWKS_URL, status=503)
    client = app_trusting(tmp_path, JWKS_URL, make_app)
    for number in range(20):
        assert discovery(client, f"kid-{number}") == 401
    assert failing.call_count == 1, "one fetch, then a back-off of 5 minutes for every key id"


@responses.activate
@pytest.mark.parametrize("claims", [
    {"exp": int(time.time()) - 3600},  # expired
    {"aud": f"{BASE}/cds-services/bzd-taper-order-sign"},  # another endpoint's audience
    {"exp": str(int(time.time()) + 60)},  # exp as a string
    {"exp": 10**400},  # not a time
    {"iat": int(time.time()) - 7200},  # lived longer than the maximum
])
def test_a_token_that_cannot_be_valid_fetches_nothing(
        tmp_path: Path, claims: dict[str, Any], make_app: MakeApp) -> None:
    served = responses.get(JWKS_URL, json={"keys": []})
    client = app_trusting(tmp_path, JWKS_URL, make_app)
    for number in range(20):
        assert discovery(client, f"kid-{number}", **claims) == 401
    assert served.call_count == 0


@pytest.fixture
def dripping_jwks() -> Iterator[str]:
    server: FhirTestServer = start_fhir_server(slow_drip)  # one byte every 0.2 s for 20 s: no read ever times out
    yield base_url(server) + "/jwks.json"
    server.shutdown()
    server.server_close()


def test_no_call_waits_on_a_dripping_jwks_endpoint_longer_than_one_fetch_deadline(
    tmp_path: Path, dripping_jwks: str, monkeypatch: pytest.MonkeyPatch
, make_app: MakeApp) -> None:
    """Before: the first call waited for the whole drip (20 s) holding the issuer's lock, and each other call
    of that issuer waited behind it (20, 40, 60 s)."""
    monkeypatch.setattr(jwt_auth, "JWKS_TIMEOUT_S", 1.0)
    client = app_trusting(tmp_path, dripping_jwks, make_app)
    waits: list[float] = []

    def one_call() -> None:
        started = time.monotonic()
        assert discovery(client, "k1") == 401
        waits.append(time.monotonic() - started)

    threads = [threading.Thread(target=one_call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    one_call()  # after the deadline: backing off, answered at once
    assert len(waits) == 7 and max(waits) < 1.8, waits
    assert waits[-1] < 0.5, waits
