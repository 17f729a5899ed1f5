"""Verify the JWT a CDS client sends with every call (CDS Hooks 2.0 §Trusting CDS Clients, CDS Hooks 2.0).

The checks of the CDS Hooks best-practice list, all of them before the replay store is touched: the token is
parsed once (PyJWT) and the claims that need no key are checked on that parse — audience is the exact URL
called (under ``CDS_PUBLIC_BASE_URL``; string or array), not expired (60 s skew), not before, issued-at,
the required claims; then the issuer allow-listed; a ``jku`` header only if it is on that issuer's list (it
is never fetched otherwise); the signature over the parsed bytes by the issuer's key named by ``kid``, with
an algorithm from a fixed allow-list (never ``none``, never HS*) that must be the key's own; ``jti`` not
seen before. Any failure → 401 without detail; the reason goes to the log without the token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
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
"""One deadline for a whole JWKS fetch (connect, headers, body): no call waits on a fetch longer, however
slowly the endpoint drips."""
JWKS_MAX_BYTES = 256 * 1024
"""A JWK Set larger than this is not read (a few keys are a few kilobytes)."""
JWKS_TTL_S = 3600.0
JWKS_REFRESH_MIN_S = 300.0
"""The issuer's JWKS is fetched at most this often, whatever the outcome of the last fetch and whatever
``kid`` a token names (an unknown one — key rotation — or one that does not exist)."""
MAX_TIME_CLAIM = 10**11
"""``exp``/``iat`` beyond this (the year 5138) are not times: refused before any arithmetic on them."""
PUBLICLY_KNOWN_KEYS = frozenset({"dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB"})
"""``x`` of public keys whose private half is published: the CDS Hooks sandbox's ES384 key (its repository
ships ``keys/ecprivkey.pem``). A token signed with it proves nothing (development trust file only)."""

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
    publicly_known: bool = False
    """One of its keys has a published private half (see :data:`PUBLICLY_KNOWN_KEYS`)."""
    _fetched: dict[str, PyJWK] = field(default_factory=dict)
    _fetched_at: float = float("-inf")
    """When the last good keys came (monotonic)."""
    _next_fetch: float = float("-inf")
    """No fetch before this: set when a fetch starts, so a failed one backs off as a good one does."""
    _in_flight: tuple[threading.Event, float] | None = None
    """The fetch under way, and its deadline."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, kid: str) -> PyJWK | None:
        """The issuer's key ``kid``: inline, or from its ``jwks_url`` — cached for :data:`JWKS_TTL_S`, fetched
        at most every :data:`JWKS_REFRESH_MIN_S` (for any ``kid``), each fetch in its own thread within
        :data:`JWKS_TIMEOUT_S`; callers wait for a fetch no longer than its deadline, never for a lock held
        across one. An endpoint down for a moment keeps the last good keys."""
        if kid in self.inline_keys:
            return self.inline_keys[kid]
        if self.jwks_url is None:
            return None
        now = time.monotonic()
        with self._lock:
            known = self._fetched.get(kid)
            if known is not None and now - self._fetched_at <= JWKS_TTL_S:
                return known
            if self._in_flight is None or now >= self._in_flight[1]:
                if now < self._next_fetch:
                    return known  # backing off: the last good keys (or none) until the next fetch is due
                self._next_fetch = now + JWKS_REFRESH_MIN_S
                self._in_flight = (threading.Event(), now + JWKS_TIMEOUT_S)
                threading.Thread(target=self._refresh, args=self._in_flight, name="jwks-fetch", daemon=True).start()
            done, deadline = self._in_flight
        done.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return self._fetched.get(kid)

    def _refresh(self, done: threading.Event, deadline: float) -> None:
        assert self.jwks_url is not None
        fetched = _fetch_jwks(self.jwks_url, deadline)
        with self._lock:
            if fetched is not None:
                self._fetched, self._fetched_at = fetched, time.monotonic()
            if self._in_flight is not None and self._in_flight[0] is done:
                self._in_flight = None
        done.set()


def _keys(jwks: dict[str, Any]) -> dict[str, PyJWK]:
    keys = {}
    for entry in jwks.get("keys", []):
        if isinstance(entry, dict) and "kid" in entry:
            try:
                keys[str(entry["kid"])] = PyJWK.from_dict(entry)
            except jwt.PyJWTError:
                log.warning("unusable key in JWKS", extra={"reason": "unsupported key"})
    return keys


def _fetch_jwks(url: str, deadline: float) -> dict[str, PyJWK] | None:
    """The keys at ``url``, read by ``deadline`` (monotonic); ``None`` when they cannot be fetched. A body
    dripping past the deadline is abandoned between reads (the callers stopped waiting at the deadline)."""
    try:
        remaining = deadline - time.monotonic()
        with requests.get(url, timeout=(remaining, remaining), stream=True,
                          headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            body = b""
            for chunk in response.iter_content(16 * 1024):
                body += chunk
                if len(body) > JWKS_MAX_BYTES:
                    raise ValueError("JWKS too large")
                if time.monotonic() > deadline:
                    raise TimeoutError("JWKS fetch past its deadline")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS is not an object")
        return _keys(document)
    except (requests.RequestException, ValueError, TimeoutError) as exc:
        log.warning("JWKS fetch failed", extra={"reason": type(exc).__name__})
        return None


@dataclass(frozen=True)
class TrustedIssuers:
    """``iss`` → how to find its keys (from the CDS_TRUSTED_ISSUERS file)."""

    issuers: dict[str, IssuerTrust]

    @classmethod
    def from_file(cls, path: Path) -> TrustedIssuers:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"CDS_TRUSTED_ISSUERS: cannot read {path} ({exc})") from None
        if not isinstance(document, dict) or not all(isinstance(t, dict) for i, t in document.items()
                                                      if not i.startswith("_")):
            raise ValueError(f"CDS_TRUSTED_ISSUERS: {path} must map each issuer to an object")
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
            known = isinstance(jwks, dict) and any(_is_published(k) for k in jwks.get("keys", []))
            issuers[issuer] = IssuerTrust(_keys(jwks) if isinstance(jwks, dict) else {}, url, frozenset(allowed),
                                          tuple(u.rstrip("/") for u in servers), known)
        return cls(issuers)

    @property
    def publicly_known(self) -> bool:
        """Some trusted key's private half is public: the development trust file."""
        return any(trust.publicly_known for trust in self.issuers.values())

    def fhir_servers(self, issuer: str) -> tuple[str, ...]:
        trust = self.issuers.get(issuer)
        return trust.fhir_servers if trust is not None else ()

    @classmethod
    def empty(cls) -> TrustedIssuers:
        return cls({})


_CLAIMS_CHECKED = {
    "verify_signature": False, "verify_exp": True, "verify_nbf": True, "verify_iat": True, "verify_aud": True,
    "verify_sub": True, "verify_jti": True, "require": ["iss", "aud", "exp", "iat", "jti"],
}
"""PyJWT's claim checks on its one parse of the token, whose signature :func:`verify_client_jwt` then checks
over exactly the bytes parsed: what ``jwt.decode`` checks, once (see README, Performance)."""


def verify_client_jwt(
    authorization: str | None, audiences: list[str], issuers: TrustedIssuers, first_use: ReplayCheck,
    max_lifetime_s: float = 3600.0, *, refuse_published_keys: bool = False,
) -> dict[str, Any]:
    """Return the verified claims of ``Authorization: Bearer <JWT>`` or raise :class:`Untrusted`. ``aud`` must
    name one of ``audiences`` (the URL called, first); ``exp`` may lie at most ``max_lifetime_s`` ahead.
    ``refuse_published_keys``: a token signed with a key whose private half is published is refused too."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:  # RFC 7235: the scheme is case-insensitive
        raise Untrusted("no bearer token")
    try:
        # One parse, PyJWT's (strict base64url, header and claim checks, as ``jwt.decode`` makes them). Nothing
        # from it is trusted before the signature over these same bytes is verified below; the header and the
        # issuer choose the key. A token that cannot be valid whatever its signature is refused here, before a
        # key is looked up (which may fetch the issuer's JWKS).
        parsed = jwt.decode_complete(token, audience=audiences, leeway=CLOCK_SKEW_S,
                                     options=_CLAIMS_CHECKED)  # type: ignore[arg-type]
    except jwt.InvalidAudienceError as exc:
        raise Untrusted(f"wrong audience: expected {audiences[0]}") from exc
    except jwt.ExpiredSignatureError as exc:
        raise Untrusted("token expired") from exc
    except jwt.DecodeError as exc:
        raise Untrusted(f"malformed token ({type(exc).__name__})") from exc
    except jwt.PyJWTError as exc:
        raise Untrusted(f"claims refused ({type(exc).__name__})") from exc
    header: dict[str, Any] = parsed["header"]
    claims: dict[str, Any] = parsed["payload"]
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise Untrusted(f"algorithm {algorithm!r} not allowed")
    issuer = claims.get("iss")
    trust = issuers.issuers.get(issuer) if isinstance(issuer, str) else None
    if trust is None:
        raise Untrusted(f"issuer {str(issuer)[:200]!r} is not trusted")
    if "jku" in header and header["jku"] not in trust.allowed_jku:
        raise Untrusted("jku not on the issuer's list")
    _check_claims_shape(claims, audiences, max_lifetime_s)
    key = trust.key(str(header.get("kid")))
    if key is None:
        raise Untrusted("unknown kid for issuer")
    _verify_signature(token, algorithm, key, parsed["signature"])
    if refuse_published_keys and _publicly_known(key):
        raise Untrusted("signed with the CDS Hooks sandbox's published key (its private half is public)")
    if not first_use(str(issuer), str(claims["jti"]), datetime.fromtimestamp(int(claims["exp"]) + CLOCK_SKEW_S, UTC)):
        raise Untrusted("jti replayed")
    return claims


def _verify_signature(token: str, algorithm: str, key: PyJWK, signature: bytes) -> None:
    """The signature over the token's first two segments, as ``jwt.decode`` checks it for a :class:`PyJWK`: the
    key's own algorithm (bound when the key was read), which must be the one the header names."""
    if algorithm != key.algorithm_name:
        raise Untrusted(f"verification failed (algorithm {algorithm!r} is not the key's)")
    verifier = key.Algorithm
    prepared = verifier.prepare_key(key.key)
    if message := verifier.check_key_length(prepared):
        warnings.warn(message, jwt.InsecureKeyLengthWarning, stacklevel=3)
    if not verifier.verify(token.rpartition(".")[0].encode("utf-8"), prepared, signature):
        raise Untrusted("verification failed (InvalidSignatureError)")


def _publicly_known(key: PyJWK) -> bool:
    """The key is one whose private half is published (:data:`PUBLICLY_KNOWN_KEYS`) — whoever served it: an
    issuer's ``jwks_url`` too, which the start-up check cannot see."""
    return _is_published(getattr(key, "_jwk_data", None))  # PyJWK keeps the JWK it was made from


def _is_published(jwk: Any) -> bool:
    """A JWK (as JSON) whose private half is published: :data:`PUBLICLY_KNOWN_KEYS`."""
    return isinstance(jwk, dict) and jwk.get("x") in PUBLICLY_KNOWN_KEYS


def _check_claims_shape(claims: dict[str, Any], audiences: list[str], max_lifetime_s: float) -> None:
    """Refuse claims no valid token has: ``iss``/``aud``/``exp``/``iat``/``jti`` missing, ``exp``/``iat`` not
    JSON numbers (a string ``"exp"`` too) or beyond any real time (a 400-digit ``exp`` used to be a 500), an
    audience that is not this endpoint, an ``exp`` passed, or a lifetime over the maximum."""
    for name in ("iss", "aud", "exp", "iat", "jti"):
        if name not in claims:
            raise Untrusted(f"claim {name} missing")
    for name in ("exp", "iat"):
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < MAX_TIME_CLAIM:
            raise Untrusted(f"claim {name} is not a time (NumericDate)")
    audience = claims["aud"]
    named = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if not any(isinstance(one, str) and one in audiences for one in named):
        raise Untrusted(f"wrong audience: expected {audiences[0]}")
    now = time.time()
    exp, iat = float(claims["exp"]), float(claims["iat"])
    if exp < now - CLOCK_SKEW_S:
        raise Untrusted("token expired")
    if exp - now > max_lifetime_s + CLOCK_SKEW_S or exp - iat > max_lifetime_s:
        raise Untrusted(f"token lifetime exceeds {max_lifetime_s:g} s")
