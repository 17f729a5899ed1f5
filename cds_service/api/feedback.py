"""``POST /cds-services/{id}/feedback`` — CDS Hooks 2.0 feedback, stored durably (CDS Hooks 2.0)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.api.json_body import json_body
from cds_service.db import engine_for
from cds_service.errors import BadRequest, ServiceError
from cds_service.feedback.card_log import CardLog
from cds_service.feedback.repository import InvalidFeedback, StoreUnavailable, card_ids, store_feedback
from cds_service.metrics import FEEDBACK_WRITES
from cds_service.schemas import flatten_messages
from cds_service.schemas.feedback import FeedbackRequestSchema
from cds_service.security import current_client
from cds_service.services import SERVICES, unknown_service_message

bp = Blueprint("feedback", __name__)
log = logging.getLogger(__name__)


@bp.post("/cds-services/<service_id>/feedback", strict_slashes=False)
def post_feedback(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise ServiceError(unknown_service_message(service_id), status=404, issue_code="not-found")
    body = json_body(request)
    try:
        items = FeedbackRequestSchema().load(body if isinstance(body, dict) else {"feedback": None})["feedback"]
    except ValidationError as exc:
        raise BadRequest(f"invalid feedback: {flatten_messages(exc.messages)}") from exc
    engine = engine_for(current_app.config["SETTINGS"].database_url)
    superseded: list[str] = []
    try:
        written = _store(engine, items, current_app.config["CARD_LOG"], current_client(), service_id, superseded)
    except InvalidFeedback as exc:
        raise BadRequest(str(exc)) from exc
    except StoreUnavailable as exc:
        FEEDBACK_WRITES.labels("unavailable").inc(len(items))
        log.error("feedback store unavailable", extra={"error_type": str(exc)})
        raise ServiceError("the feedback store is unavailable; nothing was stored — retry later",
                           status=503, issue_code="transient") from exc
    FEEDBACK_WRITES.labels("stored").inc(written)
    FEEDBACK_WRITES.labels("duplicate").inc(len(items) - written)
    log.info("feedback stored", extra={"service": service_id, "cards": [
        f"new:{written}", f"items:{len(items)}", f"superseding:{len(superseded)}"]})
    # CDS Hooks asks only for a 200; the body says what happened, so a second feedback on a card is not silent.
    answer: dict[str, Any] = {"stored": written, "alreadyStored": len(items) - written}
    if superseded:
        answer["superseded"] = superseded
        answer["note"] = ("these cards already had feedback: both are kept; analytics count the latest outcome, "
                          "and a snoozing override among them snoozes until it ends or is cleared")
    return jsonify(answer)


def _store(engine: Engine, items: list[dict[str, Any]], card_log: CardLog, client: str, service_id: str,
           superseded: list[str]) -> int:
    """Store the feedback at once: a card uuid proves which client and service it was issued to, so a card still
    queued in another worker's card log (or lost with a killed one) is known without waiting for its row."""
    card_log.flush()  # this worker's own cards reach the log (and the analytics) first
    try:
        settings = current_app.config["SETTINGS"]
        ids = card_ids(engine, settings.patient_hash_key, settings.previous_key(datetime.now(UTC)))
    except SQLAlchemyError as exc:
        raise StoreUnavailable(type(exc).__name__) from exc
    return store_feedback(engine, items, client=client, service_id=service_id, ids=ids, superseded=superseded)
