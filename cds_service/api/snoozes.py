"""``GET /snoozes`` and ``DELETE /snoozes`` — see and clear snoozes (README "Feedback, snooze and analytics").

A client (its JWT issuer) sees and clears its own; the operator (``CDS_OPERATOR_TOKEN``) every client's, or one's
with ``client=``. A patient is named by ``patientId`` (and ``fhirServer`` when the calls name one: the same id on
two servers is two patients) or by the ``patientHash`` a listing shows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cds_service.clinical.cards import CARD_TYPES
from cds_service.db import engine_for
from cds_service.errors import BadRequest, ServiceError
from cds_service.feedback.repository import StoreUnavailable, patient_hash
from cds_service.feedback.snoozes import active_snoozes, clear_snoozes
from cds_service.security import current_client

bp = Blueprint("snoozes", __name__)


def _patients(engine: Engine) -> list[str] | None:
    """The patient's hashes: during a key rotation also the one under the previous key (its snoozes still
    apply, so they are listed and cleared too)."""
    if request.args.get("patientHash"):
        return [request.args["patientHash"]]
    if request.args.get("patientId"):
        settings = current_app.config["SETTINGS"]
        keys = [settings.patient_hash_key, *filter(None, [settings.previous_key(datetime.now(UTC))])]
        return [patient_hash(engine, request.args["patientId"], key, request.args.get("fhirServer", ""))
                for key in keys]
    return None


def _client() -> str | None:
    """The operator's choice of client (``None``: every client), else the caller itself."""
    if g.get("operator"):
        return request.args.get("client")
    return current_client()


@bp.get("/snoozes")
def list_snoozes() -> Response:
    settings = current_app.config["SETTINGS"]
    engine = engine_for(settings.database_url)
    try:
        current_app.config["CARD_LOG"].flush()
        named = _patients(engine)
        patients: list[str | None] = [None] if named is None else [*named]
        snoozes = [snooze for patient in patients
                   for snooze in active_snoozes(engine, settings.snooze_days, client=_client(), patient=patient)]
    except (StoreUnavailable, SQLAlchemyError) as exc:
        raise ServiceError("the feedback store is unavailable", status=503, issue_code="transient") from exc
    return jsonify({"snoozeDays": settings.snooze_days, "snoozes": [s.as_json() for s in snoozes]})


@bp.delete("/snoozes")
def delete_snoozes() -> Response:
    settings = current_app.config["SETTINGS"]
    engine = engine_for(settings.database_url)
    card_type = request.args.get("cardType")
    if card_type is not None and card_type not in CARD_TYPES:
        raise BadRequest(f"unknown cardType {card_type!r}; one of {', '.join(CARD_TYPES)}")
    try:
        patients = _patients(engine)
        if patients is None:
            raise BadRequest("name the patient: patientId (with fhirServer when the calls name one) or patientHash")
        client = _client()
        cleared = sum(clear_snoozes(engine, patient, client if client is not None else "", card_type)
                      for patient in patients)
    except (StoreUnavailable, SQLAlchemyError) as exc:
        raise ServiceError("the feedback store is unavailable", status=503, issue_code="transient") from exc
    return jsonify({"cleared": cleared})
