"""Trusted EHRs for tests with client JWTs required: each signs every request with its own ES384 key."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm

from tests.conftest import HookCalls

BASE = "http://127.0.0.1:8080"
"""``CDS_PUBLIC_BASE_URL`` of the apps these EHRs call: every ``aud`` is under it."""
SIGN = "/cds-services/bzd-taper-order-sign"
_KEYS: dict[str, ec.EllipticCurvePrivateKey] = {}


def key_of(issuer: str) -> ec.EllipticCurvePrivateKey:
    return _KEYS.setdefault(issuer, ec.generate_private_key(ec.SECP384R1()))


def trust_file(folder: Path, issuers: dict[str, dict[str, Any]]) -> Path:
    """A CDS_TRUSTED_ISSUERS file trusting each issuer's key, with any extra members per issuer."""
    document = {}
    for issuer, extra in issuers.items():
        jwk = {**json.loads(ECAlgorithm.to_jwk(key_of(issuer).public_key())), "kid": issuer, "alg": "ES384"}
        document[issuer] = {"jwks": {"keys": [jwk]}, **extra}
    path = folder / "trusted-issuers.json"
    path.write_text(json.dumps(document))
    return path


def token(issuer: str, audience: str) -> str:
    """A fresh ES384 client JWT of ``issuer`` for the URL ``audience``."""
    now = int(time.time())
    return jwt.encode({"iss": issuer, "aud": audience, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex},
                      key_of(issuer), algorithm="ES384", headers={"kid": issuer, "typ": "JWT"})


class Ehr:
    """One trusted EHR calling the service: every request carries a fresh JWT of its issuer."""

    def __init__(self, client: FlaskClient, issuer: str) -> None:
        self.client, self.issuer = client, issuer

    def headers(self, path: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(self.issuer, BASE + path)}"}

    def call(self, body: dict[str, Any], path: str = SIGN) -> Any:
        return HookCalls(self.client).post(body, path.rsplit("/", 1)[1], headers=self.headers(path))

    def feedback(self, *items: dict[str, Any], service: str = "bzd-taper-order-sign") -> Any:
        path = f"/cds-services/{service}/feedback"
        return self.client.post(path, json={"feedback": list(items)}, headers=self.headers(path))

    def analytics(self) -> dict[str, Any]:
        response = self.client.get("/analytics", headers=self.headers("/analytics"))
        assert response.status_code == 200
        return dict(response.get_json()["card_types"])
