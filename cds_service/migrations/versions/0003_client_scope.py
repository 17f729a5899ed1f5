"""Card log scoped by client: the JWT issuer that received each card, and the suggestion ids it carried.

Feedback is accepted only from the client that received the card and only naming suggestions the card had;
snooze and analytics read only the calling client's rows (docs/service-contract.md §9). Rows logged before
this revision belong to no authenticated client (``client = ''``, what unauthenticated development calls
use): an EHR's earlier snoozes no longer apply, so its cards are shown again rather than silenced by rows
whose owner is unknown.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("card_log", sa.Column("client", sa.String(512), nullable=False, server_default=""))
    op.add_column("card_log", sa.Column("suggestion_ids", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("card_log") as batch:
        batch.drop_column("suggestion_ids")
        batch.drop_column("client")
