"""Index the snoozing overrides, so that the snooze check (run on every call with cards) starts from the few
overrides rather than from every card a patient was ever shown.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_feedback_snooze", "feedback", ["override_code", "outcome_timestamp"])


def downgrade() -> None:
    op.drop_index("ix_feedback_snooze", table_name="feedback")
