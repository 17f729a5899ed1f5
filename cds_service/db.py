"""The service's database (SQLite by default, PostgreSQL in production via DATABASE_URL).

One engine per process: gunicorn forks workers after the app is preloaded, and a connection pool must
never be shared across a fork. The schema is owned by Alembic (``cds_service/migrations``); the first
engine of a process for a URL brings the schema to head.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
metadata = MetaData()
_engines: dict[tuple[int, str], Engine] = {}
_lock = threading.Lock()
MIGRATIONS = Path(__file__).parent / "migrations"


def engine_for(database_url: str) -> Engine:
    key = (os.getpid(), database_url)
    engine = _engines.get(key)  # every call asks, several times: no lock once the engine exists
    if engine is not None:
        return engine
    with _lock:
        if key not in _engines:
            _engines[key] = _create(database_url)
        return _engines[key]


def _create(database_url: str) -> Engine:
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy, not pysqlite, decides when transactions begin, and every one begins IMMEDIATE:
        # a deferred transaction that reads and then writes under WAL fails at once with "database is
        # locked" instead of waiting its turn.
        engine = create_engine(database_url, connect_args={"timeout": 5, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin)
        event.listen(engine, "commit", _end)
        event.listen(engine, "rollback", _end)
    else:
        engine = create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                               connect_args={"connect_timeout": 3})
    return engine


def migrate(database_url: str) -> None:
    """Bring the schema to the latest migration (idempotent; safe to call at every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    engine = engine_for(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ensure_schema(database_url: str) -> bool:
    """Migrate if the database is reachable; a database that is down at start is retried by /readyz
    rather than keeping the service (and its cards) from starting."""
    try:
        migrate(database_url)
        return True
    except SQLAlchemyError as exc:
        log.error("database unavailable at start", extra={"error_type": type(exc).__name__})
        return False


def reading(engine: Engine) -> Connection:
    """A connection for reads only. On SQLite it opens no transaction and takes no lock: each statement reads
    its own snapshot, and readers never queue behind writers (or each other) for the single write lock."""
    return engine.connect().execution_options(read_only=True)


_sqlite_writer = threading.RLock()
"""One SQLite write transaction at a time per process. A threaded worker's calls queue here, in turn, instead
of polling SQLite's lock with its busy handler, which lets the unlucky ones wait past the busy timeout (seen as
503s on feedback from 16 concurrent clients); across processes at most one writer per worker contends."""


def _begin(connection: Connection) -> None:
    if not connection.get_execution_options().get("read_only"):
        _sqlite_writer.acquire()
        connection.info["holds_writer"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end(connection)
            raise


def _end(connection: Connection) -> None:
    if connection.info.pop("holds_writer", False):
        _sqlite_writer.release()


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL with synchronous=NORMAL: a commit survives a crash of the process (it is in the WAL file) without an
    # fsync per transaction; only an operating-system crash or power loss can lose the last commits. The
    # embedded default is for development and single hosts — production uses PostgreSQL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
