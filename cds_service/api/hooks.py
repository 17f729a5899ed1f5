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
from cds_service.fhir.hook_body import decode_hook_body
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
    # the legacy hook's history may come in STU3 or DSTU2 shapes, renamed before it is read (evaluate.py)
    body = json_body(request, decode=decode_hook_body if service.hook != "medication-prescribe" else None)
    try:
        hook_request = load_hook_request(body, service.hook)
    except ValidationError as exc:
        raise BadRequest(f"invalid hook request: {flatten_messages(exc.messages)}") from exc
    g.hook_instance = hook_request["hookInstance"]
    settings = current_app.config["SETTINGS"]
    engine = engine_for(settings.database_url)
    client = current_client()
    issued = datetime.now(UTC)
    store = _PatientStore(engine, settings, client, issued, hook_request["context"]["patientId"],
                          hook_request.get("fhirServer", ""))

    def card_uuids() -> Callable[[], str]:
        """Asked once per card, so calls without cards never touch the store for the installation key."""
        try:
            return card_ids(engine, settings.patient_hash_key).for_card(client, service.id, issued)
        except SQLAlchemyError:
            return lambda: str(uuid.uuid4())  # unprovable uuids: feedback on them needs their card-log row

    found: list[frozenset[str]] = []

    def findings(_facts: object, result: EngineResult) -> None:
        found.append(frozenset(f.card_type for f in result.findings if f.indicator != "critical"))

    with REQUEST_LATENCY.labels(service.id).time():
        outcome = evaluate_hook_call(service, hook_request, settings, snoozed=store.snoozed,
                                     card_uuids=card_uuids, inspect=findings,
                                     fhir_access=allowed_fhir(
                                         settings, current_app.config["TRUSTED_ISSUERS"].fhir_servers(client), client))
    shadow = settings.shadow(client)
    for card in () if shadow else outcome.cards:  # cds_cards_total counts cards returned; shadow ones are not
        CARDS.labels(card.card_type, card.indicator).inc()
    for rule in outcome.failed_rules:
        RULE_FAILURES.labels(rule).inc()
    # the card log keys the cards by the patient's pseudonym, asked here only when there are cards to log
    patient = store.patient_hash() if outcome.cards else None
    if patient is not None:
        current_app.config["CARD_LOG"].add(service.id, hook_request["hookInstance"], patient, outcome.cards,
                                           client, shadow=shadow)
    if log.isEnabledFor(logging.INFO):  # the snoozes' times are read for this line only
        log.info("hook evaluated", extra={
            "service": service.id, "cards": [f"{c.card_type}:{c.indicator}" for c in outcome.cards],
            "failed_rules": list(outcome.failed_rules) or None,
            "snoozed": _snoozed_since(engine, settings, client, store, store.silenced & found[0]),
            "shadow": shadow or None,
        })
    # Shadow mode: computed and logged above, never shown (a silent pilot; the analytics say what would have fired).
    return Response(encode_json({"cards": []} if shadow else outcome.response), mimetype="application/json")


class _PatientStore:
    """The patient's pseudonym and snoozes in the feedback store, each looked up at most once and only when asked:
    the engine asks for the snoozes only when the rules found something, the card log for the pseudonym only when
    there are cards, so a call without cards never touches the store. A store that cannot be reached snoozes
    nothing and logs no card (cards matter more than analytics)."""

    def __init__(self, engine: Engine, settings: Settings, client: str, issued: datetime, patient_id: str,
                 fhir_server: str) -> None:
        self._engine, self._settings, self._client, self._issued = engine, settings, client, issued
        self._patient_id, self._fhir_server = patient_id, fhir_server
        self._hash: list[str | None] = []
        self.silenced: frozenset[str] = frozenset()
        """The card types the snoozes silenced in this call (empty until :meth:`snoozed` is asked)."""

    def patient_hash(self) -> str | None:
        """The keyed hash the card log and the snoozes know the patient by; ``None`` without the store."""
        if not self._hash:
            try:
                self._hash.append(patient_hash(self._engine, self._patient_id, self._settings.patient_hash_key,
                                               self._fhir_server))
            except (StoreUnavailable, SQLAlchemyError) as exc:
                log.error("feedback store unavailable; no snooze applied", extra={"error_type": type(exc).__name__})
                self._hash.append(None)
        return self._hash[0]

    def snoozed(self) -> frozenset[str]:
        """The card types the prescriber snoozed for this patient (the engine never silences a critical card)."""
        patient = self.patient_hash()
        if patient is None:
            return frozenset()
        settings = self._settings
        try:
            snoozed = snoozed_card_types(self._engine, patient, settings.snooze_days, self._client)
            if previous := settings.previous_key(self._issued):  # during a key rotation: the snoozes made before it
                snoozed |= snoozed_card_types(self._engine, patient_hash(self._engine, self._patient_id, previous,
                                                                         self._fhir_server),
                                              settings.snooze_days, self._client)
        except (StoreUnavailable, SQLAlchemyError) as exc:
            log.error("feedback store unavailable; no snooze applied", extra={"error_type": type(exc).__name__})
            return frozenset()
        self.silenced = snoozed
        return snoozed


def _snoozed_since(engine: Engine, settings: Settings, client: str, store: _PatientStore,
                   suppressed: frozenset[str]) -> list[str] | None:
    """``<card type> since <time>`` for each card a snooze kept from this call: why an expected card is missing."""
    # a card was snoozed only if the store answered, so the pseudonym is known: no further lookup
    patient = store.patient_hash() if suppressed else None
    if patient is None:
        return None
    try:
        snoozes = active_snoozes(engine, settings.snooze_days, client=client, patient=patient,
                                 card_types=suppressed)
    except StoreUnavailable:
        return [f"{card_type} since unknown" for card_type in sorted(suppressed)]
    return [f"{s.card_type} since {s.since.isoformat(timespec='seconds')}" for s in snoozes] or None
