"""The web application: settings, blueprints, client trust and error handlers, built by
``cds_service.create_app()`` (the WSGI entry point)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cds_service.clinical.profiles import PROFILE_CODES
from cds_service.config import Settings, SettingsError
from cds_service.db import engine_for, ensure_schema
from cds_service.errors import ServiceError, operation_outcome
from cds_service.feedback.card_log import CardLog
from cds_service.logs import configure_logging, init_request_logging
from cds_service.security import replay
from cds_service.security.cors import init_cors
from cds_service.security.jwt_auth import TrustedIssuers, Untrusted, verify_client_jwt

log = logging.getLogger("cds_service")

_PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/taper-plan")
"""Paths without client JWT: probes, the API description, and the page prescribers open from a card."""
_OPERATOR_PATHS = ("/analytics", "/snoozes")
"""Paths the operator (``CDS_OPERATOR_TOKEN``) may read across every client."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``test_config`` overrides settings fields (e.g. ``{"auth": "off"}``)."""
    settings = Settings.from_env()
    if test_config:
        settings = settings.with_overrides(test_config)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["CARD_LOG"] = CardLog(settings.database_url, settings.card_log_interval_s)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    try:
        trusted = (TrustedIssuers.from_file(settings.trusted_issuers_file) if settings.trusted_issuers_file
                   else TrustedIssuers.empty())
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    _refuse_unsafe(settings, trusted)
    app.config["TRUSTED_ISSUERS"] = trusted
    if settings.auth == "off":
        log.warning("CDS_AUTH=off: client JWTs are NOT verified — development only")

    from cds_service.api import analytics, discovery, feedback, health, hooks, pages, snoozes

    app.config["SCHEMA_AT_HEAD"] = ensure_schema(settings.database_url)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(snoozes.bp)
    app.register_blueprint(health.bp)
    init_request_logging(app)
    init_cors(app, settings)
    _register_development_hosts(app, settings)
    _register_client_trust(app, settings)
    _register_error_handlers(app)
    _register_security_headers(app)
    return app


def _refuse_unsafe(settings: Settings, trusted: TrustedIssuers) -> None:
    """Combinations that would run without the protection they appear to have: refuse to start, and say why."""
    if settings.auth == "required" and not trusted.issuers:
        raise SettingsError("CDS_AUTH=required but CDS_TRUSTED_ISSUERS names no issuer: every call would be "
                            "refused; list your EHRs' issuers and keys (see deploy/trusted-issuers.example.json)")
    if trusted.publicly_known:
        why = ("the development trust file trusts the CDS Hooks sandbox's key, whose private half is public, so "
               "anyone can sign its tokens")
        if settings.auth == "required":
            raise SettingsError(f"CDS_AUTH=required with {why}: list your EHRs' issuers instead")
        if urlsplit(settings.public_base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SettingsError(f"CDS_PUBLIC_BASE_URL {settings.public_base_url} is not this machine, and {why}: "
                                "use it only for a service on 127.0.0.1/localhost")
    if settings.development and urlsplit(settings.public_base_url).scheme == "https" \
            and urlsplit(settings.public_base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SettingsError(f"CDS_AUTH={settings.auth} with CDS_PUBLIC_BASE_URL {settings.public_base_url}: a "
                            "service published over https is a real deployment, and without required client JWTs "
                            "anyone who reaches it can read cards and write feedback; set CDS_AUTH=required")
    if settings.auth == "required" and (named := _published_key_urls(trusted)):
        raise SettingsError(f"CDS_AUTH=required and CDS_TRUSTED_ISSUERS takes keys from {named[0]}, the CDS Hooks "
                            "sandbox's published key, whose private half is public, so anyone can sign its tokens: "
                            "list your EHRs' issuers and key URLs instead")
    if settings.patient_hash_key is not None and len(settings.patient_hash_key) < 32:
        raise SettingsError("CDS_PATIENT_HASH_KEY must be at least 32 characters (e.g. openssl rand -hex 32)")
    if settings.auth == "required" and settings.patient_hash_key is None:
        raise SettingsError("CDS_PATIENT_HASH_KEY is required with CDS_AUTH=required: without it the key lives in "
                            "the database beside the hashes, and anyone who can read it can re-identify patients; "
                            "set it from a secret (e.g. openssl rand -hex 32)")
    if settings.auth == "required" and not settings.taper_profile_chosen:
        raise SettingsError("CDS_TAPER_PROFILE is required with CDS_AUTH=required: the taper thresholds are a "
                            "clinical policy your drug-and-therapeutics committee chooses, not a default to inherit; "
                            f"set it to one of {', '.join(PROFILE_CODES)} (README: Choosing the taper profile)")


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _register_development_hosts(app: Flask, settings: Settings) -> None:
    """Development (no client JWTs): only requests addressed to this machine, or to ``CDS_PUBLIC_BASE_URL``'s
    host, are answered. A web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its own
    name as ``Host``: without this check it could call the service — and, through its fallback, which may reach
    loopback in development, read a FHIR server on the developer's machine."""
    if not settings.development:
        return
    allowed = _LOOPBACK_NAMES | {urlsplit(settings.public_base_url).hostname or ""}

    @app.before_request
    def check_host() -> Response | None:
        hostname = urlsplit("//" + request.host).hostname if request.host else None
        if hostname in allowed:
            return None
        response = jsonify(operation_outcome(
            "unexpected Host: in development the service answers only requests to this machine "
            "(localhost, 127.0.0.1, [::1]) or to the host of CDS_PUBLIC_BASE_URL", "security"))
        response.status_code = 421
        return response


_PUBLISHED_KEY_HOSTS = frozenset({"sandbox.cds-hooks.org"})
"""Hosts that serve the CDS Hooks sandbox's JWKS: its private key is published with its source."""


def _published_key_urls(trusted: TrustedIssuers) -> list[str]:
    """Key URLs (``jwks_url``, ``jku``) of any trust entry, whatever the file, on a host of the sandbox's key."""
    return sorted(url for trust in trusted.issuers.values()
                  for url in {*trust.allowed_jku, *([trust.jwks_url] if trust.jwks_url else [])}
                  if urlsplit(url).hostname in _PUBLISHED_KEY_HOSTS)


def _register_client_trust(app: Flask, settings: Settings) -> None:
    @app.before_request
    def verify_client() -> Response | None:
        if settings.auth == "off" or request.method == "OPTIONS" or request.path in _PUBLIC_PATHS:
            return None
        authorization = request.headers.get("Authorization")
        if request.path in _OPERATOR_PATHS and _is_operator(authorization, settings.operator_token):
            g.operator = True
            return None
        if settings.auth == "optional" and not authorization:
            return None
        def first_use(issuer: str, jti: str, expires_at: datetime) -> bool:
            return replay.first_use(engine_for(settings.database_url), issuer, jti, expires_at)

        try:
            claims = verify_client_jwt(authorization, settings.audiences(request.path), app.config["TRUSTED_ISSUERS"],
                                       first_use, settings.jwt_max_lifetime_s,
                                       refuse_published_keys=settings.auth == "required")
            log.debug("client verified", extra={"iss": claims["iss"], "jti": claims["jti"]})
            g.client = claims["iss"]
        except replay.ReplayStoreUnavailable:
            log.error("replay store unavailable", extra={"path": request.path})
            response = jsonify(operation_outcome("token replay store unavailable", "transient"))
            response.status_code = 503
            return response
        except Untrusted as exc:
            log.warning("client JWT rejected", extra={"reason": str(exc), "path": request.path})
            # In development the caller may learn why (a wrong audience names the expected one); in production
            # the answer says nothing an attacker could tune a forgery with.
            detail = f"unauthorized: {exc}" if settings.development else "unauthorized"
            response = jsonify(operation_outcome(detail, "login"))
            response.status_code = 401
            return response
        return None


def _is_operator(authorization: str | None, operator_token: str | None) -> bool:
    """``Authorization: Bearer <CDS_OPERATOR_TOKEN>``, compared in constant time."""
    if not operator_token or not authorization:
        return False
    scheme, _, credential = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), operator_token.encode())


_JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
_PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
                "base-uri 'none'; frame-ancestors 'none'")
"""The taper-plan page: its own inline styles and SVG, nothing fetched, never framed."""


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # The plan page's URL carries a dose, an age band and a drug: a link followed from it must not send it on.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy",
                                    _PAGE_POLICY if response.mimetype == "text/html" else _JSON_POLICY)
        if request.path.startswith("/cds-services/") or request.path in _OPERATOR_PATHS:
            response.headers["Cache-Control"] = "no-store"  # cards and outcomes are about patients
        return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError) -> tuple[Response, int]:
        response = jsonify(exc.body())
        if exc.status in (429, 503):
            response.headers["Retry-After"] = "1"
        return response, exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = {404: "not-found", 405: "not-supported", 413: "too-long"}.get(status, "invalid")
        return jsonify(operation_outcome(exc.description or exc.name, code)), status  # type: ignore[arg-type]

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.error("unexpected error", extra={"error_type": type(exc).__name__})
        return jsonify(operation_outcome("internal error", "exception")), 500
