"""``GET /analytics`` — card outcomes per card type, behind the same client trust as the hooks."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify
from sqlalchemy.exc import SQLAlchemyError

from cds_service.db import LONG_OPERATION_S, engine_for, operation_budget
from cds_service.errors import ServiceError
from cds_service.feedback.analytics import card_outcomes
from cds_service.feedback.repository import StoreUnavailable
from cds_service.security import current_client

bp = Blueprint("analytics", __name__)


@bp.get("/analytics")
def analytics() -> Response:
    """The calling client's cards (its JWT issuer); every client's with the operator token. Counts include this
    worker's queued card log; other workers' cards show within their flush interval."""
    client = None if g.get("operator") else current_client()
    try:
        current_app.config["CARD_LOG"].flush()
        with operation_budget(LONG_OPERATION_S):  # reads the whole card log: longer than a hook call's queries
            return jsonify(card_outcomes(engine_for(current_app.config["SETTINGS"].database_url), client))
    except (SQLAlchemyError, StoreUnavailable) as exc:
        raise ServiceError("the feedback store is unavailable", status=503, issue_code="transient") from exc
