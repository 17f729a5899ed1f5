"""Liveness and readiness probes (service-contract.md §2)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from cds_service.clinical.terminology import load_terminology
from cds_service.openapi import openapi_document

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(current_app.config["SETTINGS"].public_base_url))


@bp.get("/readyz")
def readyz() -> Response:
    load_terminology()
    return jsonify({"status": "ready"})
