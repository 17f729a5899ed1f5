"""``GET /cds-services`` — CDS Hooks discovery (CDS Hooks 2.0, docs/service-contract.md §3)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from cds_service.services import SERVICES

bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
@bp.get("/cds-services/")  # a discovery URL registered with a trailing slash works too
def discovery() -> Response:
    return jsonify({"services": [service.discovery_entry() for service in SERVICES.values()]})
