"""Tables of the feedback store; the schema itself is created by the Alembic migrations."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text, false

from cds_service.db import metadata

card_log = Table(
    "card_log",
    metadata,
    Column("card_uuid", String(36), primary_key=True),
    Column("service_id", String(64), nullable=False),
    Column("card_type", String(64), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("hook_instance", String(200), nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("client", String(512), nullable=False, server_default=""),
    Column("suggestion_ids", Text, nullable=True),
    Column("shadow", Boolean, nullable=False, server_default=false()),
    Index("ix_card_log_patient", "patient_hash", "client"),
)
"""Every card returned: joins feedback to card types. ``patient_hash`` is a keyed hash, never the id;
``client`` is the JWT issuer that received the card (``''`` for unauthenticated development calls);
``suggestion_ids`` are the card's suggestion uuids, space-separated; ``shadow``: computed for a client in shadow
mode and not sent (``CDS_SHADOW_ISSUERS``)."""

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("card_uuid", String(36), nullable=False, index=True),  # may precede its card-log row (card_ids)
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=True),
    Column("override_system", String(256), nullable=True),
    Column("override_code", String(128), nullable=True),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("snooze_cleared_at", DateTime(timezone=True), nullable=True),
)
"""One row per distinct feedback item (free-text comments are not stored: they may hold patient data);
``snooze_cleared_at``: when an operator cleared the snooze the item made."""

install_secret = Table(
    "install_secret",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
)
"""Per-installation secrets shared by every replica (the patient-hash key when none is configured)."""
