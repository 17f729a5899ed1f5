"""Verify the JWT a CDS client sends with every call (CDS Hooks 2.0 §Trusting CDS Clients, cds-hooks.md §9.2).

Order of checks follows the CDS Hooks best-practice list: issuer allow-listed; a ``jku`` header only if
it is on that issuer's list (it is never fetched otherwise); audience is the exact URL called (under
``CDS_PUBLIC_BASE_URL``; string or array); not expired (60 s skew); signature by the issuer's key named by
``kid`` with an algorithm from a fixed allow-list (never ``none``, never HS*); ``jti`` not seen before.
Any failure → 401 without detail; the reason goes to the log without the token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import requests
from jwt import PyJWK

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
CLOCK_SKEW_S = 60
JWKS_TIMEOUT_S = 3.0
JWKS_TTL_S = 3600.0
JWKS_REFRESH_MIN_S = 300.0
"""An unknown ``kid`` refetches the issuer's JWKS (key rotation), at most this often."""

log = logging.getLogger(__name__)

ReplayCheck = Callable[[str, str, datetime], bool]
"""(issuer, jti, expires_at) → True the first time it is seen."""


class Untrusted(Exception):
    """The call's JWT is missing or does not verify; ``str(exc)`` is the reason for the log."""


@dataclass
class IssuerTrust:
    inline_keys: dict[str, PyJWK]
    jwks_url: str | None
    allowed_jku: frozenset[str]
    fhir_servers: tuple[str, ...] = ()
    """The FHIR base URLs this client may name as ``fhirServer`` (none listed: any public address)."""
    _fetched: dict[str, PyJWK] = field(default_factory=dict)
    _fetched_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, kid: str) -> PyJWK | None:
        if kid in self.inline_keys:
            return self.inline_keys[kid]
        if self.jwks_url is None:
            return None
        now = time.monotonic()
        with self._lock:
            stale = now - self._fetched_at > JWKS_TTL_S
            unknown_and_may_refresh = kid not in self._fetched and now - self._fetched_at > JWKS_REFRESH_MIN_S
            if stale or unknown_and_may_refresh:
                self._fetched = _fetch_jwks(self.jwks_url)
                self._fetched_at = now
            return self._fetched.get(kid)


def _keys(jwks: dict[str, Any]) -> dict[str, PyJWK]:
    keys = {}
    for entry in jwks.get("keys", []):
        if isinstance(entry, dict) and "kid" in entry:
            try:
                keys[str(entry["kid"])] = PyJWK.from_dict(entry)
            except jwt.PyJWTError:
                log.warning("unusable key in JWKS", extra={"reason": "unsupported key"})
    return keys


def _fetch_jwks(url: str) -> dict[str, PyJWK]:
    try:
        response = requests.get(url, timeout=JWKS_TIMEOUT_S, headers={"Accept": "application/json"})
        response.raise_for_status()
        return _keys(response.json())
    except (requests.RequestException, ValueError) as exc:
        log.warning("JWKS fetch failed", extra={"reason": type(exc).__name__})
        return {}


@dataclass(frozen=True)
class TrustedIssuers:
    """``iss`` → how to find its keys (from the CDS_TRUSTED_ISSUERS file)."""

    issuers: dict[str, IssuerTrust]

    @classmethod
    def from_file(cls, path: Path) -> TrustedIssuers:
        document = json.loads(path.read_text(encoding="utf-8"))
        issuers = {}
        for issuer, trust in document.items():
            if issuer.startswith("_"):
                continue  # comments such as "_warning"
            jwks, url = trust.get("jwks"), trust.get("jwks_url")
            if not isinstance(jwks, dict) and not isinstance(url, str):
                raise ValueError(f"trusted issuer {issuer!r} needs 'jwks' or 'jwks_url'")
            allowed = set(trust.get("jku", []))
            if url:
                allowed.add(url)
            servers = trust.get("fhir_servers", [])
            if not isinstance(servers, list) or not all(isinstance(u, str) for u in servers):
                raise ValueError(f"trusted issuer {issuer!r}: 'fhir_servers' must be a list of URLs")
            issuers[issuer] = IssuerTrust(_keys(jwks) if isinstance(jwks, dict) else {}, url, frozenset(allowed),
                                          tuple(u.rstrip("/") for u in servers))
        return cls(issuers)

    def fhir_servers(self, issuer: str) -> tuple[str, ...]:
        trust = self.issuers.get(issuer)
        return trust.fhir_servers if trust is not None else ()

    @classmethod
    def empty(cls) -> TrustedIssuers:
        return cls({})


def verify_client_jwt(
    authorization: str | None, audience: str, issuers: TrustedIssuers, first_use: ReplayCheck
) -> dict[str, Any]:
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
    trust = issuers.issuers.get(issuer) if isinstance(issuer, str) else None
    if trust is None:
        raise Untrusted("issuer not trusted")
    if "jku" in header and header["jku"] not in trust.allowed_jku:
        raise Untrusted("jku not on the issuer's list")
    key = trust.key(str(header.get("kid")))
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
    if not first_use(str(issuer), str(claims["jti"]), datetime.fromtimestamp(int(claims["exp"]) + CLOCK_SKEW_S, UTC)):
        raise Untrusted("jti replayed")
    return claims
