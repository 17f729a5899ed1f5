"""Snoozes an operator cleared, and cards computed in shadow mode (logged, never shown).

``feedback.snooze_cleared_at``: when an operator cleared the snooze this override made (``bzd-taper-cds snoozes
clear``, ``DELETE /snoozes``); the feedback itself stays for the analytics. ``card_log.shadow``: the card was
computed for a client in shadow mode (``CDS_SHADOW_ISSUERS``) and not sent; analytics count it as "would have
fired".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feedback", sa.Column("snooze_cleared_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("card_log", sa.Column("shadow", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("card_log") as batch:
        batch.drop_column("shadow")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("snooze_cleared_at")
