"""The snooze read starts from the patient's own cards, not from every snoozing override.

Revision 0002 made the read start from the few snoozing overrides (``ix_feedback_snooze``) and dropped the card
log's patient index. Overrides are not few in a real installation: with 200,000 logged cards and 20,000 snoozing
overrides within the snooze period, every hook call with a card read all 20,000 and joined each to the card log,
about 200 ms a call on SQLite. Now the read finds the patient's cards for this client (``ix_card_log_patient``)
and asks the feedback index on ``card_uuid`` about each: 0.2 ms for the same data, and it no longer grows with the
installation. ``ix_feedback_snooze`` served only the old read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_card_log_patient", "card_log", ["patient_hash", "client"])
    op.drop_index("ix_feedback_snooze", table_name="feedback")


def downgrade() -> None:
    op.create_index("ix_feedback_snooze", "feedback", ["override_code", "outcome_timestamp"])
    op.drop_index("ix_card_log_patient", table_name="card_log")
