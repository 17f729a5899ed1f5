"""Liveness and readiness probes (service-contract.md §2)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from cds_service.clinical.terminology import load_terminology

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    load_terminology()
    return jsonify({"status": "ready"})
