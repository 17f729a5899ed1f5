"""``POST /cds-services/{id}`` — evaluate a hook call (CDS Hooks 2.0, docs/service-contract.md §7)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, request
from marshmallow import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.api.json_body import json_body
from cds_service.clinical.engine import EngineResult
from cds_service.config import Settings
from cds_service.db import engine_for
from cds_service.errors import BadRequest, ServiceError
from cds_service.evaluate import allowed_fhir, evaluate_hook_call
from cds_service.feedback.repository import StoreUnavailable, card_ids, patient_hash, snoozed_card_types
from cds_service.feedback.snoozes import active_snoozes
from cds_service.json_codec import encode_json
from cds_service.metrics import CARDS, REQUEST_LATENCY, RULE_FAILURES
from cds_service.schemas import flatten_messages
from cds_service.schemas.hook_request import load_hook_request
from cds_service.security import current_client
from cds_service.services import SERVICES, unknown_service_message

bp = Blueprint("hooks", __name__)
log = logging.getLogger(__name__)


@bp.post("/cds-services/<service_id>", strict_slashes=False)
def call_service(service_id: str) -> Response:
    service = SERVICES.get(service_id)
    if service is None:
        raise ServiceError(unknown_service_message(service_id), status=404, issue_code="not-found")
    body = json_body(request)
    try:
        hook_request = load_hook_request(body, service.hook)
    except ValidationError as exc:
        raise BadRequest(f"invalid hook request: {flatten_messages(exc.messages)}") from exc
    g.hook_instance = hook_request["hookInstance"]
    settings = current_app.config["SETTINGS"]
    engine = engine_for(settings.database_url)
    patient: list[str] = []  # filled only when there are cards: calls without cards never touch the store
    client = current_client()
    issued = datetime.now(UTC)

    def card_uuids() -> Callable[[], str]:
        """Asked once per card, so calls without cards never touch the store for the installation key."""
        try:
            return card_ids(engine, settings.patient_hash_key).for_card(client, service.id, issued)
        except SQLAlchemyError:
            return lambda: str(uuid.uuid4())  # unprovable uuids: feedback on them needs their card-log row

    silenced: list[frozenset[str]] = []
    found: list[frozenset[str]] = []

    def snoozed() -> frozenset[str]:
        try:
            patient_id, fhir_server = hook_request["context"]["patientId"], hook_request.get("fhirServer", "")
            patient.append(patient_hash(engine, patient_id, settings.patient_hash_key, fhir_server))
            snoozed = snoozed_card_types(engine, patient[0], settings.snooze_days, client)
            if previous := settings.previous_key(issued):  # during a key rotation: the snoozes made before it
                snoozed |= snoozed_card_types(engine, patient_hash(engine, patient_id, previous, fhir_server),
                                              settings.snooze_days, client)
            silenced.append(snoozed)
            return silenced[0]
        except (StoreUnavailable, SQLAlchemyError) as exc:
            # Cards matter more than analytics: without the store nothing is snoozed, and the call goes on.
            log.error("feedback store unavailable; no snooze applied", extra={"error_type": type(exc).__name__})
            return frozenset()

    def findings(_facts: object, result: EngineResult) -> None:
        found.append(frozenset(f.card_type for f in result.findings if f.indicator != "critical"))

    with REQUEST_LATENCY.labels(service.id).time():
        outcome = evaluate_hook_call(service, hook_request, settings, snoozed=snoozed,
                                     card_uuids=card_uuids, inspect=findings,
                                     fhir_access=allowed_fhir(
                                         settings, current_app.config["TRUSTED_ISSUERS"].fhir_servers(client), client))
    shadow = settings.shadow(client)
    for card in () if shadow else outcome.cards:  # cds_cards_total counts cards returned; shadow ones are not
        CARDS.labels(card.card_type, card.indicator).inc()
    for rule in outcome.failed_rules:
        RULE_FAILURES.labels(rule).inc()
    if patient and outcome.cards:
        current_app.config["CARD_LOG"].add(service.id, hook_request["hookInstance"], patient[0], outcome.cards,
                                           client, shadow=shadow)
    log.info("hook evaluated", extra={
        "service": service.id, "cards": [f"{c.card_type}:{c.indicator}" for c in outcome.cards],
        "failed_rules": list(outcome.failed_rules) or None,
        "snoozed": _snoozed_since(engine, settings, client, patient, (silenced or [frozenset()])[0] & found[0]),
        "shadow": shadow or None,
    })
    # Shadow mode: computed and logged above, never shown (a silent pilot; the analytics say what would have fired).
    return Response(encode_json({"cards": []} if shadow else outcome.response), mimetype="application/json")


def _snoozed_since(engine: Engine, settings: Settings, client: str, patient: list[str],
                   suppressed: frozenset[str]) -> list[str] | None:
    """``<card type> since <time>`` for each card a snooze kept from this call: why an expected card is missing."""
    if not suppressed or not patient:
        return None
    try:
        snoozes = active_snoozes(engine, settings.snooze_days, client=client, patient=patient[0],
                                 card_types=suppressed)
    except StoreUnavailable:
        return [f"{card_type} since unknown" for card_type in sorted(suppressed)]
    return [f"{s.card_type} since {s.since.isoformat(timespec='seconds')}" for s in snoozes] or None
