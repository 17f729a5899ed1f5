"""The service's database (SQLite by default, PostgreSQL in production via DATABASE_URL).

One engine per process: gunicorn forks workers after the app is preloaded, and a connection pool must
never be shared across a fork.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event

metadata = MetaData()
_engines: dict[tuple[int, str], Engine] = {}


def engine_for(database_url: str) -> Engine:
    key = (os.getpid(), database_url)
    if key not in _engines:
        if database_url.startswith("sqlite:///"):
            Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(database_url, connect_args={"timeout": 15})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        metadata.create_all(engine)
        _engines[key] = engine
    return _engines[key]


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
