"""One typed settings object, read from the environment (docs/service-contract.md §6).

The defaults are safe for production (JWT verification required, no CORS origins); the development
run command sets the relaxed values explicitly, and :meth:`Settings.from_env` refuses combinations
that are unsafe outside development.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from cds_service.clinical.equivalence import TABLES
from cds_service.clinical.model import EquivalenceTable
from cds_service.clinical.profiles import PROFILE_CODES

AuthMode = Literal["required", "optional", "off"]
EquivalenceTableName = EquivalenceTable

_AUTH_MODES: tuple[AuthMode, ...] = ("required", "optional", "off")
_TABLES: tuple[EquivalenceTableName, ...] = TABLES


class SettingsError(ValueError, RuntimeError):
    """A configuration value is missing, malformed or unsafe. Also a ``RuntimeError``: gunicorn prints such an
    error raised while it loads the app as one line ("Error: ..."), not as a traceback."""


def default_data_dir() -> Path:
    return Path(os.environ.get("CDS_DATA_DIR", "var")).resolve()


@dataclass(frozen=True)
class Settings:
    public_base_url: str = "http://127.0.0.1:8080"
    auth: AuthMode = "required"
    trusted_issuers_file: Path | None = None
    cors_origins: tuple[str, ...] = ()
    database_url: str = field(default_factory=lambda: f"sqlite:///{default_data_dir() / 'bzd-taper-cds.db'}")
    taper_profile: str = "summary"
    """One of :data:`cds_service.clinical.profiles.PROFILE_CODES`."""
    taper_profile_chosen: bool = False
    """``CDS_TAPER_PROFILE`` was set: production refuses to start on the development default (the installing
    organisation chooses its clinical policy, docs/clinical-reference.md §0)."""
    equivalence_table: EquivalenceTableName = "ashton"
    fhir_timeout_s: float = 3.0
    fhir_max_pages: int = 10
    """How many Bundle pages one FHIR fallback search may follow before giving up (CDS Hooks 2.0)."""
    max_body_bytes: int = 2 * 1024 * 1024
    log_level: str = "INFO"
    snooze_days: int = 90
    """How long an override with a snooze reason silences the same card type for the same patient."""
    card_log_interval_s: float = 0.25
    """How long the card log gathers the cards of concurrent calls into one write (cds_service.feedback.card_log)."""
    patient_hash_key: str | None = None
    """Key of the patient hash in the card log; by default a random per-installation key kept in the DB."""
    previous_patient_hash_key: str | None = None
    """The key before the last rotation: still read — snoozes, card uuids — until :attr:`previous_key_until`."""
    previous_key_until: datetime | None = None
    jwt_max_lifetime_s: float = 3600.0
    """Longest client JWT accepted (``exp`` − ``iat``, and ``exp`` from now); the CDS Hooks spec asks for
    short-lived tokens."""
    fhir_allowed: tuple[str, ...] = ()
    """FHIR base URLs (prefixes) every client may name as ``fhirServer``; when any are listed (here or for the
    client in the trust file), the only ones — and trusted whatever their address (e.g. a private network)."""
    operator_token: str | None = None
    """Bearer secret of the operator's ``/analytics`` view over every client (unset: no operator view)."""
    shadow_issuers: tuple[str, ...] = ()
    """Clients (JWT issuers; ``*`` every client, ``-`` calls without a token) in shadow mode: their cards are
    computed and logged, and they receive none — a silent pilot read in the analytics."""
    threads: int = 16
    """Request threads per gunicorn worker (``CDS_THREADS``; deploy/gunicorn.conf.py reads it through
    :meth:`request_threads`). They also size each worker's FHIR fetch threads and kept connections: every search
    of every request thread can be in flight (cds_service.evaluate)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls()
        values: dict[str, Any] = {}
        if "CDS_PUBLIC_BASE_URL" in env:
            values["public_base_url"] = env["CDS_PUBLIC_BASE_URL"].rstrip("/")
        if "CDS_AUTH" in env:
            values["auth"] = _choice("CDS_AUTH", env["CDS_AUTH"], _AUTH_MODES)
        if env.get("CDS_TRUSTED_ISSUERS"):
            values["trusted_issuers_file"] = Path(env["CDS_TRUSTED_ISSUERS"])
        if env.get("CDS_CORS_ORIGINS"):
            values["cors_origins"] = tuple(o.strip() for o in env["CDS_CORS_ORIGINS"].split(",") if o.strip())
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        if "CDS_TAPER_PROFILE" in env:
            values["taper_profile"] = _choice("CDS_TAPER_PROFILE", env["CDS_TAPER_PROFILE"], PROFILE_CODES)
            values["taper_profile_chosen"] = True
        if "CDS_EQUIVALENCE_TABLE" in env:
            values["equivalence_table"] = _choice("CDS_EQUIVALENCE_TABLE", env["CDS_EQUIVALENCE_TABLE"], _TABLES)
        if env.get("CDS_LOG_LEVEL"):
            values["log_level"] = _choice("CDS_LOG_LEVEL", env["CDS_LOG_LEVEL"].upper(),
                                          ("DEBUG", "INFO", "WARNING", "ERROR"))
        if env.get("CDS_SNOOZE_DAYS"):
            values["snooze_days"] = int(_positive_float("CDS_SNOOZE_DAYS", env["CDS_SNOOZE_DAYS"]))
        if env.get("CDS_PATIENT_HASH_KEY"):
            values["patient_hash_key"] = env["CDS_PATIENT_HASH_KEY"]
        if env.get("CDS_PATIENT_HASH_KEY_PREVIOUS"):
            values["previous_patient_hash_key"] = env["CDS_PATIENT_HASH_KEY_PREVIOUS"]
        if env.get("CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL"):
            values["previous_key_until"] = _utc_time("CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL",
                                                     env["CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL"])
        if env.get("CDS_JWT_MAX_LIFETIME_S"):
            values["jwt_max_lifetime_s"] = _positive_float("CDS_JWT_MAX_LIFETIME_S", env["CDS_JWT_MAX_LIFETIME_S"])
        if env.get("CDS_FHIR_ALLOWED"):
            values["fhir_allowed"] = tuple(u.strip().rstrip("/") for u in env["CDS_FHIR_ALLOWED"].split(",")
                                           if u.strip())
        if env.get("CDS_OPERATOR_TOKEN"):
            values["operator_token"] = env["CDS_OPERATOR_TOKEN"]
        if env.get("CDS_SHADOW_ISSUERS"):
            values["shadow_issuers"] = tuple(i.strip() for i in env["CDS_SHADOW_ISSUERS"].split(",") if i.strip())
        if env.get("CDS_CARD_LOG_INTERVAL_S"):
            values["card_log_interval_s"] = _positive_float("CDS_CARD_LOG_INTERVAL_S", env["CDS_CARD_LOG_INTERVAL_S"])
        if env.get("CDS_THREADS"):
            values["threads"] = cls.request_threads(env)
        if "CDS_FHIR_TIMEOUT_S" in env:
            values["fhir_timeout_s"] = _positive_float("CDS_FHIR_TIMEOUT_S", env["CDS_FHIR_TIMEOUT_S"])
        return replace(settings, **values).validated()

    @classmethod
    def request_threads(cls, environ: Mapping[str, str]) -> int:
        """``CDS_THREADS``, or the default: read alone by deploy/gunicorn.conf.py, before the app (and the rest of
        the settings) is loaded."""
        value = environ.get("CDS_THREADS")
        if not value:
            return cls.threads
        if not value.isdigit() or not 1 <= int(value) <= 1024:
            raise SettingsError(f"CDS_THREADS must be a whole number from 1 to 1024 (got {value!r})")
        return int(value)

    @property
    def development(self) -> bool:
        """Client JWTs are not required: a developer's machine (``make run``), never production."""
        return self.auth != "required"

    def audiences(self, path: str) -> list[str]:
        """The ``aud`` values accepted for a call of ``path``: the public URL; in development also with
        ``localhost`` and ``127.0.0.1`` swapped (a browser and a terminal often spell this machine differently)."""
        accepted = [self.public_base_url + path]
        if self.development:
            for one, other in (("//localhost", "//127.0.0.1"), ("//127.0.0.1", "//localhost")):
                if one in self.public_base_url:
                    accepted.append(self.public_base_url.replace(one, other, 1) + path)
        return accepted

    def shadow(self, client: str) -> bool:
        """Cards for ``client`` are computed and logged but not sent (``CDS_SHADOW_ISSUERS``)."""
        return "*" in self.shadow_issuers or (client or "-") in self.shadow_issuers

    def previous_key(self, now: datetime) -> str | None:
        """The previous patient-hash key while it is still accepted (before ``CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL``)."""
        if self.previous_patient_hash_key is None or self.previous_key_until is None or now >= self.previous_key_until:
            return None
        return self.previous_patient_hash_key

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        chosen: dict[str, Any] = {"taper_profile_chosen": True} if "taper_profile" in overrides else {}
        return replace(self, **chosen, **dict(overrides)).validated()

    def validated(self) -> Settings:
        _choice("auth", self.auth, _AUTH_MODES)
        _choice("taper_profile", self.taper_profile, PROFILE_CODES)
        _choice("equivalence_table", self.equivalence_table, _TABLES)
        if not self.public_base_url.startswith(("http://", "https://")):
            raise SettingsError("CDS_PUBLIC_BASE_URL must be an absolute http(s) URL")
        if self.fhir_timeout_s <= 0:
            raise SettingsError("CDS_FHIR_TIMEOUT_S must be positive")
        if "*" in self.cors_origins:
            raise SettingsError("CDS_CORS_ORIGINS=* would let any web page call the service (on a developer's "
                                "machine too, through Private Network Access): list the origins, or 'loopback' "
                                "for browser clients on this machine")
        for origin in self.cors_origins:
            # The CORS library reads an origin with . * ? [ ( as a regular expression (".*" allows every page);
            # "null" is what sandboxed frames and file: pages send: any page can be one.
            if origin != "loopback" and not _ORIGIN.fullmatch(origin):
                raise SettingsError(f"CDS_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port], no "
                                    "patterns, not 'null'): list each browser client's origin exactly")
        if self.operator_token is not None and len(self.operator_token) < 32:
            raise SettingsError("CDS_OPERATOR_TOKEN must be at least 32 characters (e.g. openssl rand -hex 32)")
        if self.operator_token is not None and len(set(self.operator_token)) < 8:
            raise SettingsError("CDS_OPERATOR_TOKEN repeats a few characters: use a random secret "
                                "(e.g. openssl rand -hex 32)")
        if self.previous_patient_hash_key is not None:
            if self.previous_key_until is None:
                raise SettingsError("CDS_PATIENT_HASH_KEY_PREVIOUS needs CDS_PATIENT_HASH_KEY_PREVIOUS_UNTIL (when it "
                                    "stops being accepted: the rotation plus CDS_SNOOZE_DAYS)")
            if self.patient_hash_key is None or self.previous_patient_hash_key == self.patient_hash_key:
                raise SettingsError("CDS_PATIENT_HASH_KEY_PREVIOUS is the key before CDS_PATIENT_HASH_KEY: set both, "
                                    "and different")
        if self.operator_token is not None and self.operator_token == self.patient_hash_key:
            raise SettingsError("CDS_OPERATOR_TOKEN equals CDS_PATIENT_HASH_KEY: whoever holds the operator token "
                                "could re-identify patients from the card log; use two different secrets")
        return self


_ORIGIN = re.compile(r"https?://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?", re.IGNORECASE)
"""A browser origin as sent in the ``Origin`` header: scheme, host and port, nothing else."""


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return cast(Any, value)


def _utc_time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an ISO 8601 date or time (got {value!r})") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _positive_float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number (got {value!r})") from exc
    if not number > 0 or number != number:
        raise SettingsError(f"{name} must be positive (got {value!r})")
    return number
