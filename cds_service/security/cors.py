"""CORS for browser-based CDS clients such as the CDS Hooks sandbox (CDS Hooks 2.0).

Preflight ``OPTIONS`` is answered without authentication (browsers send no Authorization header on
it); only origins listed in CDS_CORS_ORIGINS are allowed — never ``*`` — and ``loopback`` stands for any
page served from this machine (``localhost``, ``127.0.0.1`` or ``[::1]``, any port: what ``make run`` allows);
Chrome's Private Network Access preflight gets ``Access-Control-Allow-Private-Network: true``.
"""

from __future__ import annotations

import re

from flask import Flask
from flask_cors import CORS

from cds_service.config import Settings

CORS_PATHS = r"/(cds-services.*|analytics|openapi\.json)"
LOOPBACK_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?$")


def init_cors(app: Flask, settings: Settings) -> None:
    if not settings.cors_origins:
        return  # no browser origin is trusted unless configured
    origins = [LOOPBACK_ORIGIN if origin == "loopback" else origin for origin in settings.cors_origins]
    CORS(
        app,
        resources={CORS_PATHS: {"origins": origins}},
        methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        supports_credentials=False,
        allow_private_network=True,
        max_age=600,
    )
