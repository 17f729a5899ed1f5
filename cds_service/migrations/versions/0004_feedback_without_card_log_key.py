"""Feedback without a foreign key to the card log.

Card uuids prove themselves (``cds_service.feedback.card_ids``): feedback on a card is accepted before its
card-log row is written, or when the row was lost with a killed worker. The snooze and analytics queries join
the card log as before, so feedback counts once its card's row is there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
"""SQLite keeps the constraint unnamed: batch mode names it by this convention to drop it."""


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("feedback", naming_convention=_SQLITE_NAMES) as batch:
            batch.drop_constraint("fk_feedback_card_uuid_card_log", type_="foreignkey")
    else:
        op.drop_constraint("feedback_card_uuid_fkey", "feedback", type_="foreignkey")


def downgrade() -> None:
    # On SQLite under the name upgrade() looks for, so that a downgraded database can be upgraded again.
    name = "fk_feedback_card_uuid_card_log" if op.get_context().dialect.name == "sqlite" else "feedback_card_uuid_fkey"
    with op.batch_alter_table("feedback") as batch:
        batch.create_foreign_key(name, "card_log", ["card_uuid"], ["card_uuid"])
