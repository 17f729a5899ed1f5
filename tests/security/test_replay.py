"""The ``jti`` replay store: a token is accepted once, across workers (one shared table) and restarts, at the
cost of one INSERT per call; expired entries are deleted now and then, not on every call (measured on SQLite
on a loaded 2-core machine: 3.3–3.6 ms a call with DELETE + INSERT, 0.65–0.8 ms now)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, select

from cds_service.db import migrate
from cds_service.security import replay
from cds_service.security.replay import first_use, seen_token_ids


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = request.getfixturevalue("fresh_database") if request.param == "postgresql" else f"sqlite:///{tmp_path}/r.db"
    migrate(url)
    replay._next_purge.clear()
    yield url


def test_a_jti_is_accepted_once_even_after_a_restart(database_url: str) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    engine = create_engine(database_url)
    assert first_use(engine, "https://ehr.example", "jti-1", expires)
    assert not first_use(engine, "https://ehr.example", "jti-1", expires)
    assert first_use(engine, "https://other.example", "jti-1", expires), "jti is unique per issuer"
    engine.dispose()
    restarted = create_engine(database_url)  # another process, or the same after a restart
    assert not first_use(restarted, "https://ehr.example", "jti-1", expires)
    restarted.dispose()


def stored(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(seen_token_ids.c.jti)).scalars())


def test_expired_entries_are_purged_periodically_not_on_every_call(database_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    assert first_use(engine, "iss", "jti-0", now + timedelta(minutes=5), now=now)  # a process's first call purges
    first_use(engine, "iss", "long-expired", now - timedelta(hours=1), now=now)
    for n in range(1, 5):
        assert first_use(engine, "iss", f"jti-{n}", now + timedelta(minutes=5), now=now)
    assert "long-expired" in stored(engine), "each call is one INSERT: nothing is deleted on the way"
    monkeypatch.setattr(replay, "_next_purge", {})  # the purge interval has passed
    assert first_use(engine, "iss", "jti-5", now + timedelta(minutes=5), now=now)
    assert stored(engine) == {f"jti-{n}" for n in range(6)}
    engine.dispose()


def test_the_connection_after_a_replay_insert_keeps_transactions(database_url: str) -> None:
    """On PostgreSQL the INSERT runs autocommitted (no BEGIN/COMMIT round trips): the pooled connection must
    go back with transactions on, or the next write of several statements would keep its first half."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)  # the replay's connection is the next one's
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert first_use(engine, "iss", "jti-1", expires)
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.execute(insert(seen_token_ids).values(issuer="iss", jti="jti-2", expires_at=expires))
        raise RuntimeError("the write fails halfway")
    assert stored(engine) == {"jti-1"}
    engine.dispose()
