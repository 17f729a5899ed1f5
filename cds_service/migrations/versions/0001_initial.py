"""Initial schema: token replay store, card log, feedback, install secret.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_token_ids",
        sa.Column("issuer", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "card_log",
        sa.Column("card_uuid", sa.String(36), primary_key=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_type", sa.String(64), nullable=False, index=True),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
        sa.Column("card_uuid", sa.String(36), sa.ForeignKey("card_log.card_uuid"), nullable=False, index=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text, nullable=True),
        sa.Column("override_system", sa.String(256), nullable=True),
        sa.Column("override_code", sa.String(128), nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "install_secret",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    for table in ("install_secret", "feedback", "card_log", "seen_token_ids"):
        op.drop_table(table)
