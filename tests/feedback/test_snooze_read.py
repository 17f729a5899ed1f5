"""The snooze read, on every hook call with a card, costs the same however many overrides the installation holds:
it starts from the calling patient's cards, not from every snoozing override (with 20,000 of them that read
took about 200 ms a call on SQLite). Work is counted in SQLite virtual-machine steps, not timed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert

from cds_service.clinical.cards import OVERRIDE_REASON_SYSTEM
from cds_service.db import engine_for, migrate
from cds_service.feedback.models import feedback
from cds_service.feedback.repository import CardRecord, card_log_rows, insert_card_log_rows, snoozed_card_types

CLIENT = "https://ehr.example"
NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)


def logged_and_overridden(engine: Engine, patient: str, card_type: str, code: str, days_ago: int = 1,
                          indicator: str = "warning") -> None:
    card = str(uuid.uuid4())
    insert_card_log_rows(engine, card_log_rows("bzd-taper-order-sign", "h", patient,
                                               [CardRecord(card, card_type, indicator)], CLIENT, NOW))
    with engine.begin() as connection:
        connection.execute(insert(feedback).values(
            dedupe_key=uuid.uuid4().hex, card_uuid=card, outcome="overridden", override_system=OVERRIDE_REASON_SYSTEM,
            override_code=code, outcome_timestamp=NOW - timedelta(days=days_ago), received_at=NOW))


def read_with_steps(engine: Engine, patient: str) -> tuple[frozenset[str], int]:
    """The snooze read on the pool's one connection, with SQLite counting its virtual-machine steps."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    connection = engine.raw_connection()
    connection.driver_connection.set_progress_handler(count, 1)  # type: ignore[union-attr]
    connection.close()
    try:
        return snoozed_card_types(engine, patient, 30, CLIENT, now=NOW), steps[0]
    finally:
        connection = engine.raw_connection()
        connection.driver_connection.set_progress_handler(None, 1)  # type: ignore[union-attr]
        connection.close()


def test_the_snooze_read_does_not_grow_with_other_patients_overrides(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/snooze.db"
    migrate(database_url)
    engine = engine_for(database_url)
    logged_and_overridden(engine, "patient", "baclofen-adjunct", "patient-specific-plan")
    logged_and_overridden(engine, "patient", "taper-too-fast", "will-act")  # does not snooze
    logged_and_overridden(engine, "patient", "abrupt-discontinuation", "not-applicable", indicator="critical")
    logged_and_overridden(engine, "patient", "older-adult", "specialist-managing", days_ago=31)  # snooze is over
    snoozed, few_others = read_with_steps(engine, "patient")
    assert snoozed == frozenset({"baclofen-adjunct"})

    others = 500
    for n in range(others):
        logged_and_overridden(engine, f"other-{n}", "baclofen-adjunct", "patient-specific-plan")
    still_snoozed, with_others = read_with_steps(engine, "patient")
    assert still_snoozed == snoozed
    # A deeper index may cost a step or two; reading the others' overrides would cost about a dozen steps each.
    assert with_others - few_others < others // 5, (few_others, with_others)
