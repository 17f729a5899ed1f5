"""A production start trusts no key whose private half is published — the CDS Hooks sandbox's — whatever the file
names it by: inline, a key URL on the sandbox's host, or a JWKS URL elsewhere that serves it."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds_service.config import SettingsError
from tests.conftest import MakeApp

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://ehr.example.org"
BASE = "http://127.0.0.1:8080"
SANDBOX_JWKS = json.loads((ROOT / "dev/trusted-issuers.dev.json").read_text())["https://sandbox.cds-hooks.org"]["jwks"]


def production(tmp_path: Path, trust: dict[str, object], make_app: MakeApp) -> object:
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps(trust))
    return make_app({"auth": "required", "trusted_issuers_file": path, "public_base_url": BASE})


@pytest.mark.parametrize("entry", [
    {"jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"},
    {"jwks": {"keys": []}, "jku": ["https://sandbox.cds-hooks.org/.well-known/jwks.json"]},
])
def test_a_key_url_on_the_sandbox_is_refused_in_any_trust_file(
        tmp_path: Path, entry: dict[str, object], make_app: MakeApp) -> None:
    with pytest.raises(SettingsError, match=re.escape("takes keys from https://sandbox.cds-hooks.org/.well-known/"
                                                      "jwks.json, the CDS Hooks sandbox's published key")):
        production(tmp_path, {ISSUER: entry}, make_app)


def test_the_sandbox_key_inline_under_another_issuer_is_refused(tmp_path: Path, make_app: MakeApp) -> None:
    with pytest.raises(SettingsError, match="trusts the CDS Hooks sandbox's key, whose private half is public"):
        production(tmp_path, {ISSUER: {"jwks": SANDBOX_JWKS}}, make_app)


@responses.activate
def test_a_published_key_served_from_another_url_is_refused_at_the_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_app: MakeApp) -> None:
    """A copy of a published key hosted anywhere: found when a token signed with it arrives. (The sandbox's own
    private key is not in this repository: a test key stands in as "published".)"""
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = {**json.loads(ECAlgorithm.to_jwk(private.public_key())), "kid": "k1", "alg": "ES384"}
    jwks_url = "https://keys.ehr.example.org/jwks.json"
    responses.get(jwks_url, json={"keys": [jwk]})
    client = production(tmp_path, {ISSUER: {"jwks_url": jwks_url}}, make_app).test_client()  # type: ignore[attr-defined]

    def call() -> int:
        now = int(time.time())
        token = jwt.encode({"iss": ISSUER, "aud": f"{BASE}/cds-services", "iat": now, "exp": now + 300,
                            "jti": uuid.uuid4().hex}, private, algorithm="ES384", headers={"kid": "k1"})
        return int(client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code)

    assert call() == 200
    monkeypatch.setattr("cds_service.security.jwt_auth.PUBLICLY_KNOWN_KEYS", frozenset({jwk["x"]}))
    assert call() == 401


def test_the_published_key_list_holds_the_sandbox_key() -> None:
    from cds_service.security.jwt_auth import PUBLICLY_KNOWN_KEYS
    assert {key["x"] for key in SANDBOX_JWKS["keys"]} <= PUBLICLY_KNOWN_KEYS
