"""The service's database (SQLite by default, PostgreSQL in production via DATABASE_URL).

One engine per process: gunicorn forks workers after the app is preloaded, and a connection pool must
never be shared across a fork. The schema is owned by Alembic (``cds_service/migrations``); the first
engine of a process for a URL brings the schema to head.
"""

from __future__ import annotations

import ast
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Executable, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError

log = logging.getLogger(__name__)
metadata = MetaData()
_engines: dict[tuple[int, str], Engine] = {}
_lock = threading.Lock()
MIGRATIONS = Path(__file__).parent / "migrations"

OPERATION_TIMEOUT_S = 2.0
"""How long one PostgreSQL operation — a connection out of the pool: its liveness ping, statements and commit —
may take before its socket is shut down and the caller gets an error (hook calls then answer 503 or go on
without snooze; see :class:`_Watchdog`). Reports and migrations ask for longer with :func:`operation_budget`."""
LONG_OPERATION_S = 30.0
SQLITE_BUSY_TIMEOUT_S = 5.0
"""How long SQLite waits for a write lock held outside this service's queue (see :class:`_SqliteWriter`)."""
_budget = threading.local()


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
        engine = create_engine(database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "isolation_level": None})
        writer = _sqlite_writers[engine] = _SqliteWriter(Path(database_url.removeprefix("sqlite:///")))
        event.listen(engine, "connect", lambda connection, _record: writer.run(_sqlite_pragmas, connection))
        event.listen(engine, "begin", writer.begin)
        event.listen(engine, "commit", writer.end)
        event.listen(engine, "rollback", writer.end)
    else:
        # pool_timeout: a worker whose connections are all stuck fails at once rather than queueing behind them.
        # Keepalives and tcp_user_timeout end connections to a host that is gone; statement_timeout stops the
        # server's work on anything the client gave up on. A server that is frozen but whose kernel still
        # acknowledges packets is ended by the watchdog, which also replaces pool_pre_ping (the ping must be
        # watched too).
        engine = create_engine(database_url, pool_size=5, max_overflow=5, pool_timeout=OPERATION_TIMEOUT_S,
                               connect_args={"connect_timeout": 2, "keepalives": 1, "keepalives_idle": 10,
                                             "keepalives_interval": 3, "keepalives_count": 3,
                                             "tcp_user_timeout": 5000,
                                             "options": f"-c statement_timeout={int(LONG_OPERATION_S * 1000)}"})
        _watch_checkouts(engine)
    return engine


@contextmanager
def operation_budget(seconds: float) -> Iterator[None]:
    """Within the block, this thread's database operations may take ``seconds`` (reports, migrations)."""
    previous = getattr(_budget, "seconds", None)
    _budget.seconds = seconds
    try:
        yield
    finally:
        _budget.seconds = previous


class _Watchdog:
    """Shuts down the socket of a connection checked out longer than its budget.

    A stopped (SIGSTOP) or frozen PostgreSQL keeps its TCP connections: the kernel still acknowledges every
    packet, so keepalives never fire and statement_timeout, which the server itself enforces, never comes —
    without this every worker would wait for it. One thread per process looks ten times a second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, int]] = {}
        self._pid: int | None = None

    def watch(self, key: int, fd: int, seconds: float) -> None:
        if self._pid != os.getpid():  # a forked worker starts its own thread (threads do not survive a fork)
            with _lock:
                if self._pid != os.getpid():
                    self._lock = threading.Lock()
                    self._watched = {}
                    threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()
                    self._pid = os.getpid()
        with self._lock:
            self._watched[key] = (time.monotonic() + seconds, fd)

    def release(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            with self._lock:  # under the lock: a connection cannot be checked in (and reused) meanwhile
                for key, (deadline, fd) in list(self._watched.items()):
                    if deadline < now:
                        del self._watched[key]
                        _shut_down(fd)


def _shut_down(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)  # the driver's blocked read returns at once with an error
    except OSError:
        pass
    finally:
        sock.close()


_watchdog = _Watchdog()


def _watch_checkouts(engine: Engine) -> None:
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        budget = getattr(_budget, "seconds", None) or OPERATION_TIMEOUT_S
        _watchdog.watch(id(record), dbapi_connection.pgconn.socket, budget)
        if record.info.get("used"):  # a connection from the pool may have died meanwhile: ping it
            started = time.monotonic()
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                _watchdog.release(id(record))
                if time.monotonic() - started >= budget / 2:
                    # Ended by the watchdog: the server hangs, and a new connection would wait for it too.
                    raise DBAPIError.instance(None, None, exc, engine.dialect.loaded_dbapi.Error) from exc
                raise DisconnectionError("ping failed") from exc  # the pool retries with a new connection
        record.info["used"] = True

    def release(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
        _watchdog.release(id(record))

    event.listen(engine, "checkout", checkout)
    for name in ("checkin", "invalidate", "soft_invalidate", "close", "detach"):
        event.listen(engine, name, release)


def _alembic_head(versions: Path) -> str:
    """The revision no other migration revises: what ``alembic upgrade head`` reaches, read from the migration
    files' ``revision`` and ``down_revision`` assignments without importing Alembic (whose import is about a third
    of a worker's start). One head only: two are a branch that ``upgrade head`` would refuse."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in versions.glob("*.py"):
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:  # revision: str = "0007"
                target, value = node.target, node.value
            else:
                continue
            name = target.id if isinstance(target, ast.Name) else None
            if name == "revision":
                revisions.add(ast.literal_eval(value))
            elif name == "down_revision":
                earlier = ast.literal_eval(value)  # None, one revision, or a merge's several
                revised.update([earlier] if isinstance(earlier, str) else earlier or ())
    heads = sorted(revisions - revised)
    if len(heads) != 1:
        raise RuntimeError(f"{versions} has {len(heads)} migration heads ({', '.join(heads)}), not one")
    return heads[0]


SCHEMA_HEAD = _alembic_head(MIGRATIONS / "versions")
"""The newest migration, derived from the migration files (tests/test_db.py checks it against Alembic's own
head). A database already there is not handed to Alembic."""


def _at_head(engine: Engine) -> bool:
    try:
        with reading(engine) as connection:
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == SCHEMA_HEAD
    except SQLAlchemyError:
        return False  # no version table yet (a new database), or unreachable: Alembic says which


def migrate(database_url: str) -> None:
    """Bring the schema to the latest migration (idempotent; safe to call at every start)."""
    engine = engine_for(database_url)
    if _at_head(engine):
        return
    from alembic import command  # only a database behind the code imports it
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    with operation_budget(LONG_OPERATION_S), engine.begin() as connection:
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


@dataclass(frozen=True)
class _DriverStatement:
    sql: str
    positions: tuple[str, ...] | None
    """Parameter names in order for a positional paramstyle (SQLite's ``?``); ``None`` for named ones."""
    constants: dict[str, Any]
    """The statement's literal values, already as the driver takes them."""
    processors: dict[str, Callable[[Any], Any]]

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        parameters = dict(self.constants)
        for name, value in values.items():
            processor = self.processors.get(name)
            parameters[name] = processor(value) if processor is not None else value
        return tuple(parameters[name] for name in self.positions) if self.positions is not None else parameters


class DriverQuery:
    """A statement compiled once per dialect and run on a pooled DBAPI cursor (SQLAlchemy's "Working with the
    DBAPI cursor directly"), for the two statements on every hook call's path in production: the replay-store
    INSERT and the snooze SELECT. A Core execution costs several times the statement itself: in the production
    benchmark the snooze read through Core held the GIL about six times as long as this path (py-spy, 100-resource
    order-sign, auth on); in isolation 0.22 against 0.07 ms. Parameter types are still SQLAlchemy's (e.g. how
    SQLite stores a datetime); an ``IN`` takes literal values (``literal()``), not an expanding parameter.
    ``commit``: a single-statement write, committed before the connection goes back to the pool (on SQLite,
    whose driver runs here without implicit transactions, the statement commits itself, in its writer's turn).
    On PostgreSQL the one statement runs autocommitted, as SQLite's does: no ``BEGIN`` before it and no
    ``COMMIT`` (or the pool's ``ROLLBACK``) after it — two round trips fewer a statement, the same atomicity
    (``benchmarks/floor.py``, replay part)."""

    def __init__(self, statement: Executable, *, commit: bool = False) -> None:
        self._statement = statement
        self._commit = commit
        self._compiled: dict[str, _DriverStatement] = {}

    def rows(self, engine: Engine, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """All rows; a DBAPI error is raised as :class:`sqlalchemy.exc.DBAPIError` (a ``SQLAlchemyError``)."""
        statement = self._compiled_for(engine.dialect)
        arguments = statement.arguments(values)
        driver_error = engine.dialect.loaded_dbapi.Error
        try:
            connection = engine.raw_connection()  # a checkout raises the driver's own errors, unwrapped
            autocommit = engine.dialect.name == "postgresql"
            try:
                if autocommit:
                    connection.driver_connection.autocommit = True  # type: ignore[union-attr]
                with _writing(engine) if self._commit else nullcontext():
                    cursor = connection.cursor()
                    cursor.execute(statement.sql, arguments)
                    rows = list(cursor.fetchall())
                    if self._commit and not autocommit:
                        connection.commit()
                return rows
            except driver_error:
                connection.invalidate()  # a broken connection must not go back to the pool
                raise
            finally:
                if autocommit and connection.is_valid:  # the next user of the connection gets transactions again
                    try:
                        connection.driver_connection.autocommit = False  # type: ignore[union-attr]
                    except driver_error:
                        connection.invalidate()
                connection.close()
        except driver_error as exc:
            raise DBAPIError.instance(statement.sql, None, exc, driver_error) from exc

    def _compiled_for(self, dialect: Dialect) -> _DriverStatement:
        if dialect.name not in self._compiled:
            compiled = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            processors, constants = {}, {}
            for name, bind in compiled.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
                if not bind.required:
                    constants[name] = processor(bind.effective_value) if processor else bind.effective_value
            self._compiled[dialect.name] = _DriverStatement(compiled.string, compiled.positiontup, constants,
                                                            processors)
        return self._compiled[dialect.name]


class _SqliteWriter:
    """One SQLite write transaction at a time on this machine, each writer waiting in a queue rather than polling.

    Threads of a worker queue on a lock; workers queue on an exclusive ``flock`` of a file beside the database,
    which the kernel hands to a waiter the moment it is released (and releases itself if the holder dies).
    Left to SQLite, a writer that finds the database locked sleeps in its busy handler — up to 100 ms between
    attempts — while the threads of a busy worker take the lock from one another with no gap between their
    transactions: under load such a writer could sleep past the busy timeout and its call answer 503. SQLite's
    busy timeout now only bounds a wait for a writer outside this service (a migration, the ``sqlite3`` shell).
    """

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + "-writer")
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def run(self, operation: Callable[[Any], None], dbapi_connection: Any) -> None:
        """``operation`` in the writer's turn (a new connection's ``journal_mode`` may need the write lock)."""
        with self.held():
            operation(dbapi_connection)

    def begin(self, connection: Connection) -> None:
        if not connection.get_execution_options().get("read_only"):
            self._acquire()
            connection.info["holds_writer"] = True
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                self.end(connection)
                raise

    def end(self, connection: Connection) -> None:
        if connection.info.pop("holds_writer", False):
            self._release()

    def _acquire(self) -> None:
        self._threads.acquire()
        try:
            if self._depth == 0:
                if self._fd is None:  # opened in the worker: a descriptor shared over a fork would share the lock
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1

    def _release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_sqlite_writers: dict[Engine, _SqliteWriter] = {}


def _writing(engine: Engine) -> AbstractContextManager[None]:
    """Around a write outside ``engine.begin()`` (an autocommitted statement): its turn as SQLite's writer."""
    writer = _sqlite_writers.get(engine)
    return writer.held() if writer is not None else nullcontext()


def _sqlite_pragmas(connection: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL: a commit survives a crash of the process (it is in the WAL file) without an
    # fsync per transaction; only an operating-system crash or power loss can lose the last commits. The
    # embedded default is for development and single hosts — production uses PostgreSQL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
