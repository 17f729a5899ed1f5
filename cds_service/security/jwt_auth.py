"""Verify the JWT a CDS client sends with every call (CDS Hooks 2.0 §Trusting CDS Clients, cds-hooks.md §9.2).

Order of checks follows the CDS Hooks best-practice list: issuer allow-listed; audience is the exact
URL called (under ``CDS_PUBLIC_BASE_URL``); not expired; signature by the issuer's key named by
``kid``, with an algorithm from a fixed allow-list (never ``none``, never HS*). Any failure → the caller
answers 401 without detail; the reason goes to the log without the token.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
CLOCK_SKEW_S = 60

log = logging.getLogger(__name__)


class Untrusted(Exception):
    """The call's JWT is missing or does not verify; ``str(exc)`` is the reason for the log."""


@dataclass(frozen=True)
class TrustedIssuers:
    """``iss`` → its public keys by ``kid`` (from the CDS_TRUSTED_ISSUERS file)."""

    keys: dict[str, dict[str, PyJWK]]

    @classmethod
    def from_file(cls, path: Path) -> TrustedIssuers:
        document = json.loads(path.read_text(encoding="utf-8"))
        keys: dict[str, dict[str, PyJWK]] = {}
        for issuer, trust in document.items():
            if issuer.startswith("_"):
                continue  # comments such as "_warning"
            jwks = trust.get("jwks")
            if not isinstance(jwks, dict):
                raise ValueError(f"trusted issuer {issuer!r} needs an inline 'jwks'")
            keys[issuer] = {k["kid"]: PyJWK.from_dict(k) for k in jwks.get("keys", []) if "kid" in k}
        return cls(keys)

    @classmethod
    def empty(cls) -> TrustedIssuers:
        return cls({})


def verify_client_jwt(authorization: str | None, audience: str, issuers: TrustedIssuers) -> dict[str, Any]:
    """Return the verified claims of ``Authorization: Bearer <JWT>`` or raise :class:`Untrusted`."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Untrusted("no bearer token")
    token = authorization.removeprefix("Bearer ").strip()
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Untrusted(f"malformed token ({type(exc).__name__})") from exc
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise Untrusted(f"algorithm {algorithm!r} not allowed")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or issuer not in issuers.keys:
        raise Untrusted("issuer not trusted")
    key = issuers.keys[issuer].get(str(header.get("kid")))
    if key is None:
        raise Untrusted("unknown kid for issuer")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=CLOCK_SKEW_S,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise Untrusted(f"verification failed ({type(exc).__name__})") from exc
    return claims
