"""Writing and reading the feedback store. Every write is one transaction: all or nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, exists, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_service.clinical.cards import OVERRIDE_REASON_SYSTEM
from cds_service.db import DriverQuery, reading
from cds_service.feedback.card_ids import CardIds
from cds_service.feedback.models import card_log, feedback, install_secret

SNOOZE_REASONS = frozenset({"patient-specific-plan", "specialist-managing", "not-applicable"})
"""Override reasons that silence the same card type for the same patient for the snooze period: the
prescriber has a plan, a specialist is managing, or the card does not apply to this patient. "will-act"
does not snooze (the prescriber will change the order); critical cards are never snoozed."""


MAX_FEEDBACK_PER_CARD = 20
"""Distinct feedback items kept per card (the latest outcome counts; a prescriber answers a card a few times at
most): beyond, the batch is refused, so a client cannot grow the store without bound by varying the time."""


class StoreUnavailable(Exception):
    """The database cannot be reached or written; callers answer 503."""


class InvalidFeedback(ValueError):
    """A feedback item the service refuses (400); ``str(exc)`` says why."""


class UnknownCard(InvalidFeedback):
    """No card with this uuid was shown to this client by this service (or its log row is not written yet)."""


@dataclass(frozen=True)
class CardRecord:
    card_uuid: str
    card_type: str
    indicator: str
    suggestion_ids: tuple[str, ...] = ()


def patient_hash(engine: Engine, patient_id: str, configured_key: str | None, fhir_server: str = "") -> str:
    """HMAC-SHA256 of the patient id: joins cards of one patient without storing who it is. The same id on
    two FHIR servers is two patients, so the server is part of what is hashed when the call names one."""
    key = installation_key(engine, configured_key)
    identity = f"{fhir_server}\x00{patient_id}" if fhir_server else patient_id
    return hmac.new(key.encode(), identity.encode(), hashlib.sha256).hexdigest()


def installation_key(engine: Engine, configured_key: str | None) -> str:
    """``CDS_PATIENT_HASH_KEY``, else (development) a random key created once and kept in the database."""
    return configured_key or _cached_install_secret(engine, "patient-hash-key")


_card_ids: dict[tuple[str, str | None], CardIds] = {}


def card_ids(engine: Engine, configured_key: str | None, previous_key: str | None = None) -> CardIds:
    """The uuid maker and checker of this installation (keyed like the patient hash); with ``previous_key``
    (during a rotation) it recognises that key's cards too."""
    key = (installation_key(engine, configured_key), previous_key)
    if key not in _card_ids:
        _card_ids[key] = CardIds(*key)
    return _card_ids[key]


_secrets: dict[tuple[str, str], str] = {}


def _cached_install_secret(engine: Engine, name: str) -> str:
    """Install secrets never change once created: read once per process."""
    key = (engine.url.render_as_string(hide_password=False), name)
    if key not in _secrets:
        _secrets[key] = _install_secret(engine, name)
    return _secrets[key]


def _install_secret(engine: Engine, name: str) -> str:
    with engine.begin() as connection:
        value = connection.execute(select(install_secret.c.value).where(install_secret.c.name == name)).scalar()
        if value is not None:
            return str(value)
    try:
        with engine.begin() as connection:
            connection.execute(insert(install_secret).values(name=name, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another worker created it first
    with engine.begin() as connection:
        return str(connection.execute(select(install_secret.c.value).where(install_secret.c.name == name)).scalar_one())


def card_log_rows(service_id: str, hook_instance: str, patient: str, cards: Iterable[CardRecord],
                  client: str = "", now: datetime | None = None, shadow: bool = False) -> list[dict[str, Any]]:
    return [{"card_uuid": c.card_uuid, "service_id": service_id, "card_type": c.card_type,
             "indicator": c.indicator, "hook_instance": hook_instance[:200], "patient_hash": patient,
             "created_at": now or datetime.now(UTC), "client": client,
             "suggestion_ids": " ".join(c.suggestion_ids) or None, "shadow": shadow} for c in cards]


_INSERT_CARD_LOG = {"postgresql": postgresql.insert(card_log).on_conflict_do_nothing(),
                    "sqlite": sqlite.insert(card_log).on_conflict_do_nothing()}
"""A row already stored is skipped: a batch whose commit was reported failed after it happened (a connection
lost at that moment) is queued again, and must not then fail, with the rows queued behind it, for ever."""


def insert_card_log_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """One transaction for all ``rows`` (see :mod:`cds_service.feedback.card_log` for who calls it when)."""
    if not rows:
        return
    try:
        with engine.begin() as connection:
            connection.execute(_INSERT_CARD_LOG.get(engine.dialect.name, insert(card_log)), rows)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(type(exc).__name__) from exc


_SNOOZED = DriverQuery(
    # From the patient's cards for this client (ix_card_log_patient), each asked of the feedback index on its uuid:
    # starting from the snoozing overrides instead read every one of the installation's on every call.
    select(card_log.c.card_type)  # no DISTINCT (a temporary B-tree per call): the frozenset de-duplicates
    .where(card_log.c.patient_hash == bindparam("patient"), card_log.c.client == bindparam("client"),
           card_log.c.indicator != "critical",
           exists().where(feedback.c.card_uuid == card_log.c.card_uuid, feedback.c.outcome == "overridden",
                          feedback.c.override_system == OVERRIDE_REASON_SYSTEM,
                          feedback.c.override_code.in_([literal(code) for code in sorted(SNOOZE_REASONS)]),
                          feedback.c.outcome_timestamp >= bindparam("since"),
                          feedback.c.snooze_cleared_at.is_(None)))
)


def snoozed_card_types(engine: Engine, patient: str, snooze_days: int, client: str = "",
                       now: datetime | None = None) -> frozenset[str]:
    """Card types overridden for this patient with a snooze reason within the last ``snooze_days``, by this
    client: one EHR's overrides never silence another EHR's cards."""
    since = (now or datetime.now(UTC)) - timedelta(days=snooze_days)
    try:
        return frozenset(row[0] for row in _SNOOZED.rows(engine, {"patient": patient, "client": client,
                                                                  "since": since}))
    except SQLAlchemyError as exc:
        raise StoreUnavailable(type(exc).__name__) from exc


def _dedupe_key(item: dict[str, Any]) -> str:
    reason = (item.get("overrideReason") or {}).get("reason") or {}
    identity = [item["card"], item["outcome"], item["outcomeTimestamp"].isoformat(),
                sorted(s["id"] for s in item.get("acceptedSuggestions", [])),
                reason.get("system"), reason.get("code")]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def store_feedback(engine: Engine, items: list[dict[str, Any]], *, client: str, service_id: str,
                   ids: CardIds | None = None, now: datetime | None = None,
                   superseded: list[str] | None = None) -> int:
    """Store every item once (a repeated item is not stored again). The whole batch is refused when an item
    names a card that this service did not show this client, or a suggestion that card did not have.
    ``outcomeTimestamp`` is kept within [the card's time, now]: a feedback time in the future would extend
    a snooze beyond its period. A card whose uuid ``ids`` proves issued to this client by this service needs
    no card-log row (it may still be queued, or lost); other cards are looked up in the log. Returns how many
    new rows were written; ``superseded`` receives the cards that already had another feedback: both are kept,
    analytics count the latest outcome, and a snoozing override among them snoozes until it ends or is cleared."""
    received = now or datetime.now(UTC)
    cards = {item["card"] for item in items}
    known: dict[str, tuple[datetime, frozenset[str]]] = {}
    if ids is not None:
        for card in cards:
            issued = ids.issued(card, client, service_id)
            if issued is not None:
                known[card] = (issued, ids.suggestions(card))
    try:
        with engine.begin() as connection:
            if logged := cards - known.keys():
                known.update({uuid: (_aware(created), frozenset((suggestions or "").split()))
                              for uuid, created, suggestions in connection.execute(
                                  select(card_log.c.card_uuid, card_log.c.created_at, card_log.c.suggestion_ids)
                                  .where(card_log.c.card_uuid.in_(logged), card_log.c.client == client,
                                         card_log.c.service_id == service_id))})
            if unknown := cards - known.keys():
                raise UnknownCard(f"unknown card {sorted(unknown)[0]}")
            for item in items:
                accepted = {s["id"] for s in item.get("acceptedSuggestions", [])}
                if not accepted <= known[item["card"]][1]:
                    raise InvalidFeedback(f"card {item['card']} has no suggestion {sorted(accepted)[0]}")
            counts: dict[str, int] = {str(card): int(count) for card, count in connection.execute(
                select(feedback.c.card_uuid, func.count()).where(feedback.c.card_uuid.in_(cards))
                .group_by(feedback.c.card_uuid))}
            written = 0
            replaced: list[str] = []
            for item in items:
                key = _dedupe_key(item)
                if connection.execute(select(feedback.c.id).where(feedback.c.dedupe_key == key)).first():
                    continue
                if counts.get(item["card"], 0):  # stored before, or earlier in this batch
                    replaced.append(item["card"])
                counts[item["card"]] = counts.get(item["card"], 0) + 1
                if counts[item["card"]] > MAX_FEEDBACK_PER_CARD:
                    raise InvalidFeedback(f"card {item['card']} already has {MAX_FEEDBACK_PER_CARD} feedback "
                                          "items; nothing was stored")
                reason = (item.get("overrideReason") or {}).get("reason") or {}
                accepted_ids = [s["id"] for s in item.get("acceptedSuggestions", [])]
                shown_at = known[item["card"]][0]
                connection.execute(insert(feedback).values(
                    dedupe_key=key, card_uuid=item["card"], outcome=item["outcome"],
                    accepted_suggestions=json.dumps(accepted_ids) if accepted_ids else None,
                    override_system=reason.get("system"), override_code=reason.get("code"),
                    outcome_timestamp=min(max(item["outcomeTimestamp"], shown_at), received).astimezone(UTC),
                    received_at=received))
                written += 1
            if superseded is not None:
                superseded[:] = sorted(set(replaced))
            return written
    except IntegrityError:
        # The same item raced in from another worker: it is stored once, which is what the client wants.
        return store_feedback(engine, items, client=client, service_id=service_id, ids=ids, now=now)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(type(exc).__name__) from exc


def _aware(moment: datetime) -> datetime:
    """SQLite returns stored times without their offset; every time the service stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def count_feedback(engine: Engine) -> int:
    with reading(engine) as connection:
        return int(connection.execute(select(func.count()).select_from(feedback)).scalar_one())
