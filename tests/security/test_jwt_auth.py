"""Client JWT trust with the default ``CDS_AUTH=required`` (CDS Hooks 2.0). The full matrix against
gunicorn is in tests/security/test_jwt_gunicorn.py; these pin the behaviour the foundation already has."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm

from tests.conftest import MakeApp

ISSUER = "https://ehr.test.example"
KID = "test-key-1"
BASE = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def secured(tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey, make_app: MakeApp) -> FlaskClient:
    public_jwk = json.loads(ECAlgorithm.to_jwk(signing_key.public_key()))
    public_jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    trust = tmp_path / "trusted.json"
    trust.write_text(json.dumps({ISSUER: {"jwks": {"keys": [public_jwk]}}}))
    app = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE})
    return app.test_client()


def _token(key: ec.EllipticCurvePrivateKey, aud: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(payload, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def test_valid_token_is_accepted(secured: FlaskClient, signing_key: ec.EllipticCurvePrivateKey) -> None:
    token = _token(signing_key, f"{BASE}/cds-services")
    assert secured.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_missing_token_is_401_without_detail(secured: FlaskClient) -> None:
    response = secured.get("/cds-services")
    assert response.status_code == 401
    assert response.get_json()["issue"][0]["diagnostics"] == "unauthorized"


@pytest.mark.parametrize("claims", [
    {"aud": f"{BASE}/cds-services/bzd-taper-order-sign"},  # audience of another endpoint
    {"exp": int(time.time()) - 3600},
    {"iss": "https://someone-else.example"},
])
def test_wrong_audience_expired_or_unknown_issuer_is_401(
    secured: FlaskClient, signing_key: ec.EllipticCurvePrivateKey, claims: dict[str, Any]
) -> None:
    token = _token(signing_key, claims.pop("aud", f"{BASE}/cds-services"), **claims)
    assert secured.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_unsigned_token_is_401(secured: FlaskClient) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 60, "jti": "x"},
                       None, algorithm="none")
    assert secured.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_health_probes_need_no_token(secured: FlaskClient) -> None:
    assert secured.get("/healthz").status_code == 200


@responses.activate
def test_keys_from_an_allow_listed_jwks_url_are_fetched_once_and_cached(
    tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey, make_app: MakeApp
) -> None:
    public_jwk = json.loads(ECAlgorithm.to_jwk(signing_key.public_key()))
    public_jwk.update({"kid": KID, "alg": "ES384"})
    jwks_url = "https://ehr.test.example/.well-known/jwks.json"
    served = responses.get(jwks_url, json={"keys": [public_jwk]})
    trust = tmp_path / "trusted.json"
    trust.write_text(json.dumps({ISSUER: {"jwks_url": jwks_url}}))
    client = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE}).test_client()
    for _ in range(3):
        token = _token(signing_key, f"{BASE}/cds-services")
        assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert served.call_count == 1


def test_optional_mode_accepts_no_token_but_rejects_a_bad_one(tmp_path: Path, make_app: MakeApp) -> None:
    client = make_app({"auth": "optional", "public_base_url": BASE}).test_client()
    assert client.get("/cds-services").status_code == 200
    assert client.get("/cds-services", headers={"Authorization": "Bearer not.a.jwt"}).status_code == 401


@pytest.mark.parametrize("lifetime", [
    {"exp": 253402300799},  # 9999-12-31T23:59:59Z
    {"exp": 10**15},
    {"iat": int(time.time()) - 7000, "exp": int(time.time()) + 300},  # issued for two hours
    {"exp": int(time.time()) + 2 * 3600},
])
def test_tokens_living_longer_than_the_maximum_are_401_never_500(
    secured: FlaskClient, signing_key: ec.EllipticCurvePrivateKey, lifetime: dict[str, int]
) -> None:
    token = _token(signing_key, f"{BASE}/cds-services", **lifetime)
    response = secured.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json()["issue"][0]["diagnostics"] == "unauthorized"


def test_the_maximum_lifetime_is_configurable(
        tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey, make_app: MakeApp) -> None:
    public_jwk = json.loads(ECAlgorithm.to_jwk(signing_key.public_key()))
    trust = tmp_path / "trusted.json"
    trust.write_text(json.dumps({ISSUER: {"jwks": {"keys": [{**public_jwk, "kid": KID}]}}}))
    client = make_app({"auth": "required", "trusted_issuers_file": trust, "public_base_url": BASE,
                       "jwt_max_lifetime_s": 120}).test_client()
    short, long = (_token(signing_key, f"{BASE}/cds-services", exp=int(time.time()) + s) for s in (100, 300))
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {short}"}).status_code == 200
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {long}"}).status_code == 401


@pytest.mark.parametrize("claims", [
    {"exp": 10**400}, {"iat": 10**400}, {"iat": -(10**400)},  # correctly signed, not times: a 500 before
    {"exp": str(int(time.time()) + 60)},  # a string is not a NumericDate (RFC 7519 §2): accepted before
    {"exp": True}, {"iat": "now"},
])
def test_exp_and_iat_must_be_numbers_of_a_real_time(
    secured: FlaskClient, signing_key: ec.EllipticCurvePrivateKey, claims: dict[str, Any]
) -> None:
    token = _token(signing_key, f"{BASE}/cds-services", **claims)
    response = secured.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json()["issue"][0]["diagnostics"] == "unauthorized"
