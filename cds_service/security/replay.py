"""JWT ``jti`` replay protection shared by all workers and surviving restarts (CDS Hooks 2.0 step 6:
"jti not seen before (store until max exp)").

Each call costs one INSERT that the primary key (issuer, jti) refuses for a replay — ``ON CONFLICT DO
NOTHING``, so a replay returns no row instead of raising an error. Expired entries are deleted at most once a
:data:`PURGE_INTERVAL_S` per process, not on every call: a row outliving its token is harmless (the token
is refused as expired anyway), and the DELETE was most of the per-call cost.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Engine, String, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from cds_service.db import DriverQuery, metadata

PURGE_INTERVAL_S = 60.0
seen_token_ids = Table(
    "seen_token_ids",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)
_purge_lock = threading.Lock()
_next_purge: dict[str, float] = {}


class ReplayStoreUnavailable(Exception):
    pass


_VALUES: dict[str, Any] = {name: bindparam(name) for name in ("issuer", "jti", "expires_at")}
_INSERT_ONCE = {
    name: DriverQuery(dialect.insert(seen_token_ids).values(_VALUES).on_conflict_do_nothing()
                      .returning(seen_token_ids.c.jti), commit=True)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
"""The inserted jti, or no row when (issuer, jti) is already stored."""


def first_use(engine: Engine, issuer: str, jti: str, expires_at: datetime, now: datetime | None = None) -> bool:
    """Record (issuer, jti); ``False`` if it was already used."""
    now = now or datetime.now(UTC)
    try:
        _purge_now_and_then(engine, now)
        inserted = _INSERT_ONCE[engine.dialect.name].rows(engine, {"issuer": issuer, "jti": jti[:256],
                                                                   "expires_at": expires_at})
        return bool(inserted)
    except SQLAlchemyError as exc:
        raise ReplayStoreUnavailable(type(exc).__name__) from exc


def _purge_now_and_then(engine: Engine, now: datetime) -> None:
    key = str(engine.url)
    with _purge_lock:
        if time.monotonic() < _next_purge.get(key, 0.0):
            return
        _next_purge[key] = time.monotonic() + PURGE_INTERVAL_S
    with engine.begin() as connection:
        connection.execute(delete(seen_token_ids).where(seen_token_ids.c.expires_at < now - timedelta(minutes=5)))
