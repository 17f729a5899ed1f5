"""Liveness and readiness probes (service-contract.md §2)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from cds_service.clinical.terminology import load_terminology
from cds_service.db import ensure_schema
from cds_service.metrics import exposition
from cds_service.openapi import openapi_document

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(current_app.config["SETTINGS"].public_base_url))


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    """Ready when the terminology is loaded and the feedback store answers (schema at head)."""
    load_terminology()
    if not ensure_schema(current_app.config["SETTINGS"].database_url):
        return jsonify({"status": "not ready", "reason": "feedback store unavailable"}), 503
    return jsonify({"status": "ready"})
