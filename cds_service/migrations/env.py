"""Alembic environment: runs on the connection the service hands over (see ``cds_service.db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import cds_service.feedback.models
import cds_service.security.replay  # noqa: F401
from cds_service.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
