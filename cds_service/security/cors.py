"""CORS for browser-based CDS clients such as the CDS Hooks sandbox (cds-hooks.md §9.3).

Preflight ``OPTIONS`` is answered without authentication (browsers send no Authorization header on
it); only origins listed in CDS_CORS_ORIGINS are allowed (``*`` for development only); Chrome's Private
Network Access preflight gets ``Access-Control-Allow-Private-Network: true``.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from cds_service.config import Settings

CORS_PATHS = r"/(cds-services.*|analytics|openapi\.json)"


def init_cors(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return  # no browser origin is trusted unless configured
    origins = "*" if "*" in settings.cors_origins else list(settings.cors_origins)
    CORS(
        app,
        resources={CORS_PATHS: {"origins": origins}},
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        supports_credentials=False,
        allow_private_network=True,
        max_age=600,
    )
