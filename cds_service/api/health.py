"""Liveness and readiness probes (docs/service-contract.md §2)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cds_service.clinical.terminology import load_terminology
from cds_service.db import engine_for, ensure_schema, reading
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
    """Ready when the terminology is loaded and the feedback store answers (schema at head). Migrating takes a
    write lock: it runs here only until it has succeeded once (at start, or after a database that was down at
    start came up); after that a probe is one read."""
    load_terminology()
    url = current_app.config["SETTINGS"].database_url
    if not current_app.config["SCHEMA_AT_HEAD"]:
        current_app.config["SCHEMA_AT_HEAD"] = ensure_schema(url)
        if not current_app.config["SCHEMA_AT_HEAD"]:
            return jsonify({"status": "not ready", "reason": "feedback store unavailable"}), 503
        return jsonify({"status": "ready"})
    try:
        with reading(engine_for(url)) as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return jsonify({"status": "not ready", "reason": "feedback store unavailable"}), 503
    return jsonify({"status": "ready"})
