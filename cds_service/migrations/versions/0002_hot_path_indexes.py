"""Indexes for the hot path: every call with cards reads the snooze state and writes the card log.

- The snooze check starts from the few snoozing overrides (new index on feedback) instead of from every
  card a patient was ever shown.
- The card log is written on every such call and only ever read by primary key (feedback, snooze) or in
  full (analytics): its secondary indexes cost a B-tree write each and served no query.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CARD_LOG_INDEXES = {"ix_card_log_card_type": "card_type", "ix_card_log_patient_hash": "patient_hash",
                     "ix_card_log_created_at": "created_at"}


def upgrade() -> None:
    op.create_index("ix_feedback_snooze", "feedback", ["override_code", "outcome_timestamp"])
    for name in _CARD_LOG_INDEXES:
        op.drop_index(name, table_name="card_log")


def downgrade() -> None:
    for name, column in _CARD_LOG_INDEXES.items():
        op.create_index(name, "card_log", [column])
    op.drop_index("ix_feedback_snooze", table_name="feedback")
