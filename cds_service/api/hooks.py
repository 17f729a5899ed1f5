"""``POST /cds-services/{id}`` — evaluate a hook call (cds-hooks.md §3, service-contract.md §7)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, jsonify, request
from marshmallow import ValidationError

from cds_service.api.json_body import json_body
from cds_service.errors import BadRequest, ServiceError
from cds_service.evaluate import evaluate_hook_call
from cds_service.schemas.hook_request import load_hook_request
from cds_service.services import SERVICES

bp = Blueprint("hooks", __name__)
log = logging.getLogger(__name__)


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    service = SERVICES.get(service_id)
    if service is None:
        raise ServiceError(f"no CDS service with id '{service_id}'", status=404, issue_code="not-found")
    body = json_body(request)
    try:
        hook_request = load_hook_request(body, service.hook)
    except ValidationError as exc:
        raise BadRequest(f"invalid hook request: {_messages(exc.messages)}") from exc
    g.hook_instance = hook_request["hookInstance"]
    outcome = evaluate_hook_call(service, hook_request, current_app.config["SETTINGS"])
    log.info("hook evaluated", extra={
        "service": service.id, "cards": [f"{t}:{i}" for t, i in outcome.card_types],
        "failed_rules": list(outcome.failed_rules) or None,
    })
    return jsonify(outcome.response)


def _messages(messages: object, prefix: str = "") -> str:
    """Flatten marshmallow's nested messages into ``field: problem`` phrases."""
    if isinstance(messages, dict):
        return "; ".join(_messages(value, f"{prefix}{key}." if key != "_schema" else prefix)
                         for key, value in messages.items())
    if isinstance(messages, list):
        return "; ".join(_messages(m, prefix) for m in messages)
    return f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)
