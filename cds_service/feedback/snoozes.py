"""Snoozes an operator can see and clear: per patient and card type, scoped to the client (JWT issuer) whose
prescriber snoozed (README "Feedback, snooze and analytics").

A snooze is a snoozing override (``SNOOZE_REASONS``) of a non-critical card within the last ``CDS_SNOOZE_DAYS``;
clearing it marks those overrides cleared (``feedback.snooze_cleared_at``) — the feedback stays, so the analytics
still count it — and the card type is shown again on the next call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from cds_service.clinical.cards import OVERRIDE_REASON_SYSTEM
from cds_service.db import reading
from cds_service.feedback.models import card_log, feedback
from cds_service.feedback.repository import SNOOZE_REASONS, StoreUnavailable


@dataclass(frozen=True)
class Snooze:
    patient_hash: str
    client: str
    card_type: str
    since: datetime
    """The latest snoozing override: the snooze runs ``snooze_days`` from it."""
    until: datetime
    overrides: int

    def as_json(self) -> dict[str, Any]:
        return {"patientHash": self.patient_hash, "client": self.client, "cardType": self.card_type,
                "since": self.since.isoformat(), "until": self.until.isoformat(), "overrides": self.overrides}


def _snoozing(since: datetime) -> Any:
    return and_(feedback.c.card_uuid == card_log.c.card_uuid, feedback.c.outcome == "overridden",
                feedback.c.override_system == OVERRIDE_REASON_SYSTEM,
                feedback.c.override_code.in_(sorted(SNOOZE_REASONS)), feedback.c.outcome_timestamp >= since,
                feedback.c.snooze_cleared_at.is_(None), card_log.c.indicator != "critical")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def active_snoozes(engine: Engine, snooze_days: int, *, client: str | None = None, patient: str | None = None,
                   card_types: frozenset[str] | None = None, now: datetime | None = None) -> list[Snooze]:
    """Active snoozes, newest first; ``client`` ``None`` is every client's (the operator's view)."""
    since = (now or datetime.now(UTC)) - timedelta(days=snooze_days)
    filters = [_snoozing(since)]
    if client is not None:
        filters.append(card_log.c.client == client)
    if patient is not None:
        filters.append(card_log.c.patient_hash == patient)
    if card_types is not None:
        filters.append(card_log.c.card_type.in_(sorted(card_types)))
    query = (select(card_log.c.patient_hash, card_log.c.client, card_log.c.card_type,
                    func.max(feedback.c.outcome_timestamp), func.count())
             .select_from(card_log.join(feedback, feedback.c.card_uuid == card_log.c.card_uuid))
             .where(*filters).group_by(card_log.c.patient_hash, card_log.c.client, card_log.c.card_type))
    try:
        with reading(engine) as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as exc:
        raise StoreUnavailable(type(exc).__name__) from exc
    snoozes = [Snooze(patient_hash, client_, card_type, _aware(latest), _aware(latest) + timedelta(days=snooze_days),
                      count) for patient_hash, client_, card_type, latest, count in rows]
    return sorted(snoozes, key=lambda s: s.since, reverse=True)


def clear_snoozes(engine: Engine, patient: str, client: str, card_type: str | None = None,
                  now: datetime | None = None) -> int:
    """Clear this client's snoozes of the patient (of one card type, or all); the number of overrides cleared."""
    cards = select(card_log.c.card_uuid).where(card_log.c.patient_hash == patient, card_log.c.client == client,
                                               card_log.c.indicator != "critical")
    if card_type is not None:
        cards = cards.where(card_log.c.card_type == card_type)
    statement = (update(feedback)
                 .where(feedback.c.card_uuid.in_(cards), feedback.c.outcome == "overridden",
                        feedback.c.override_system == OVERRIDE_REASON_SYSTEM,
                        feedback.c.override_code.in_(sorted(SNOOZE_REASONS)), feedback.c.snooze_cleared_at.is_(None))
                 .values(snooze_cleared_at=now or datetime.now(UTC)))
    try:
        with engine.begin() as connection:
            return int(connection.execute(statement).rowcount or 0)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(type(exc).__name__) from exc
