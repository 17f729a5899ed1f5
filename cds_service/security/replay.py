"""JWT ``jti`` replay protection shared by all workers and surviving restarts (cds-hooks.md §9.2 step 6:
"jti not seen before (store until max exp)")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Engine, String, Table, delete, insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_service.db import metadata

seen_token_ids = Table(
    "seen_token_ids",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


class ReplayStoreUnavailable(Exception):
    pass


def first_use(engine: Engine, issuer: str, jti: str, expires_at: datetime, now: datetime | None = None) -> bool:
    """Record (issuer, jti); ``False`` if it was already used. Expired entries are purged as we go."""
    now = now or datetime.now(UTC)
    try:
        with engine.begin() as connection:
            connection.execute(delete(seen_token_ids).where(seen_token_ids.c.expires_at < now - timedelta(minutes=5)))
            connection.execute(insert(seen_token_ids).values(issuer=issuer, jti=jti[:256], expires_at=expires_at))
        return True
    except IntegrityError:
        return False
    except SQLAlchemyError as exc:
        raise ReplayStoreUnavailable(type(exc).__name__) from exc
