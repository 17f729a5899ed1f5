"""Every token a client must not get through, at the verifier itself: the checks ``jwt.decode`` made and the
service's own, now made on one parse of the token whose signature is verified over the same bytes (README,
Performance). A refused token never reaches the replay store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds_service.security import jwt_auth
from cds_service.security.jwt_auth import TrustedIssuers, Untrusted, verify_client_jwt

ISSUER = "https://ehr.test.example"
KID = "k1"
AUDIENCE = "http://127.0.0.1:8080/cds-services"
KEY = ec.generate_private_key(ec.SECP384R1())
OTHER_KEY = ec.generate_private_key(ec.SECP384R1())
P256_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def issuers(tmp_path: Path) -> TrustedIssuers:
    jwk = {**json.loads(ECAlgorithm.to_jwk(KEY.public_key())), "kid": KID, "alg": "ES384"}
    trust = tmp_path / "trusted.json"
    trust.write_text(json.dumps({ISSUER: {"jwks": {"keys": [jwk]}}}))
    return TrustedIssuers.from_file(trust)


def token(key: Any = KEY, alg: str = "ES384", headers: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not ...}, key, algorithm=alg,
                      headers={"kid": KID, **(headers or {})})


class Replay:
    def __init__(self, first: bool = True) -> None:
        self.first = first
        self.calls: list[tuple[str, str, datetime]] = []

    def __call__(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        self.calls.append((issuer, jti, expires_at))
        return self.first


def test_a_valid_token_gives_its_claims_and_is_recorded_once(issuers: TrustedIssuers) -> None:
    replay = Replay()
    exp = int(time.time()) + 120
    claims = verify_client_jwt("Bearer " + token(exp=exp, jti="the-jti"), [AUDIENCE], issuers, replay)
    assert (claims["iss"], claims["jti"], claims["exp"]) == (ISSUER, "the-jti", exp)
    assert replay.calls == [(ISSUER, "the-jti", datetime.fromtimestamp(exp + 60, UTC))]


def tampered_payload() -> str:
    header, _, signature = token().split(".")
    forged = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "iat": int(time.time()), "exp": int(time.time()) + 300,
                             "jti": "forged"}).encode())
    return f"{header}.{forged}.{signature}"


def tampered_signature() -> str:
    signing_input, _, signature = token().rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[-1] ^= 1
    return f"{signing_input}.{b64(bytes(raw))}"


def unsigned() -> str:
    now = int(time.time())
    return ".".join([b64(json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode()),
                     b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60,
                                     "jti": uuid.uuid4().hex}).encode()), ""])


def hs256_with_the_public_key() -> str:
    now = int(time.time())
    secret = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = ".".join([b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode()),
                              b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60,
                                              "jti": uuid.uuid4().hex}).encode())])
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def junk_in_a_segment() -> str:
    header, payload, signature = token().split(".")
    return f"{header}.{payload}!!.{signature}"


NOW = int(time.time())
REFUSED: dict[str, Callable[[], str]] = {
    "expired": lambda: token(iat=NOW - 3600, exp=NOW - 600),
    "not yet valid (nbf)": lambda: token(nbf=NOW + 600),
    "issued in the future (iat)": lambda: token(iat=NOW + 600, exp=NOW + 900),
    "wrong audience": lambda: token(aud="http://127.0.0.1:8080/cds-services/other"),
    "an audience list with a non-string": lambda: token(aud=[AUDIENCE, 5]),
    "untrusted issuer": lambda: token(iss="https://intruder.example"),
    "unknown kid": lambda: token(headers={"kid": "not-a-key"}),
    "alg none": unsigned,
    "HS256 with the public key as secret": hs256_with_the_public_key,
    "ES256 under the ES384 key's kid": lambda: token(key=P256_KEY, alg="ES256"),
    "signed by another key": lambda: token(key=OTHER_KEY),
    "payload swapped under a signature": tampered_payload,
    "signature altered": tampered_signature,
    "junk in a segment": junk_in_a_segment,
    "jti missing": lambda: token(jti=...),
    "jti null": lambda: token(jti=None),
    "jti not a string": lambda: token(jti=12345),
    "exp beyond any time": lambda: token(exp=10**400),
    "iat not a number": lambda: token(iat="now"),
    "lifetime over the maximum": lambda: token(exp=NOW + 7200),
    "jku not on the issuer's list": lambda: token(headers={"jku": "https://attacker.example/jwks.json"}),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_and_never_recorded(issuers: TrustedIssuers, case: str) -> None:
    replay = Replay()
    with pytest.raises(Untrusted):
        verify_client_jwt("Bearer " + REFUSED[case](), [AUDIENCE], issuers, replay)
    assert replay.calls == []


def test_a_replayed_jti_is_refused(issuers: TrustedIssuers) -> None:
    with pytest.raises(Untrusted, match="jti replayed"):
        verify_client_jwt("Bearer " + token(), [AUDIENCE], issuers, Replay(first=False))


def test_a_published_key_is_refused_when_asked(issuers: TrustedIssuers, monkeypatch: pytest.MonkeyPatch) -> None:
    published = json.loads(ECAlgorithm.to_jwk(KEY.public_key()))["x"]
    monkeypatch.setattr(jwt_auth, "PUBLICLY_KNOWN_KEYS", frozenset({published}))
    assert verify_client_jwt("Bearer " + token(), [AUDIENCE], issuers, Replay())
    replay = Replay()
    with pytest.raises(Untrusted, match="published key"):
        verify_client_jwt("Bearer " + token(), [AUDIENCE], issuers, replay, refuse_published_keys=True)
    assert replay.calls == []
