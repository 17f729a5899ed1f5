"""Database timeouts (cds_service/db.py): a PostgreSQL that stops answering — frozen with SIGSTOP, its
connections still acknowledged by the kernel — must not hang the workers. Calls that need the store fail
fast with 503, probes answer at once, and everything works again once the database is back."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from cds_service import db
from cds_service.db import MIGRATIONS, SCHEMA_HEAD, engine_for, migrate
from cds_service.feedback.models import card_log
from cds_service.feedback.repository import CardRecord, StoreUnavailable, card_log_rows, insert_card_log_rows
from cds_service.security import replay
from tests.conftest import HookCalls
from tests.utils.ehr import token, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.postgres import Cluster
from tests.utils.server import gunicorn

ISSUER = "https://ehr.example"
SIGN = "/cds-services/bzd-taper-order-sign"


@contextmanager
def frozen(cluster: Cluster) -> Iterator[None]:
    """Every process of the cluster stopped (SIGSTOP): the postmaster and each backend."""
    postmaster = int((Path(cluster.data_dir) / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
    pids = [postmaster, *map(int, children)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_frozen_postgresql_fails_calls_fast_and_the_service_recovers(postgres: Cluster, fresh_database: str,
                                                                        tmp_path: Path) -> None:
    if not postgres.data_dir:
        pytest.skip("a cluster given by CDS_TEST_POSTGRES_URL cannot be frozen by the test")
    env = {"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(trust_file(tmp_path, {ISSUER: {}})),
           "DATABASE_URL": fresh_database, "CDS_DATA_DIR": str(tmp_path)}
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    with gunicorn(env, workers=2) as base:
        def call() -> requests.Response:
            return requests.post(base + SIGN, json=body, timeout=15,
                                 headers={"Authorization": f"Bearer {token(ISSUER, base + SIGN)}"})

        for _ in range(4):  # both workers hold pooled connections
            assert call().status_code == 200
        with frozen(postgres):
            started = time.monotonic()
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
            assert time.monotonic() - started < 0.5
            for _ in range(3):
                started = time.monotonic()
                response = call()
                elapsed = time.monotonic() - started
                assert response.status_code == 503 and response.json()["resourceType"] == "OperationOutcome"
                assert elapsed < 5.0, f"a hook call waited {elapsed:.1f} s for a frozen database"
            started = time.monotonic()
            assert requests.get(f"{base}/readyz", timeout=15).status_code == 503
            assert time.monotonic() - started < 5.0
        assert [call().status_code for _ in range(3)] == [200, 200, 200]


def _write_from_threads(database_url: str, busy_timeout_s: float, writes: int, failures: Any) -> None:
    """A worker process: four threads each commit ``writes`` transactions and replay-store INSERTs; what failed
    goes to ``failures``."""
    db.SQLITE_BUSY_TIMEOUT_S = busy_timeout_s  # this forked process's engine gives SQLite's lock only this long
    engine = engine_for(database_url)
    expires = datetime.now(UTC) + timedelta(minutes=5)

    def thread(number: int) -> list[str]:
        failed = []
        for n in range(writes):
            try:
                insert_card_log_rows(engine, card_log_rows("s", "h", "p", [CardRecord(str(uuid.uuid4()), "t", "info")]))
                replay.first_use(engine, "https://ehr.example", f"{os.getpid()}-{number}-{n}", expires)
            except (StoreUnavailable, replay.ReplayStoreUnavailable) as exc:
                failed.append(f"{exc!r} from {exc.__cause__!r}"[:200])
        return failed

    with ThreadPoolExecutor(4) as pool:
        failures.put([failure for failed in pool.map(thread, range(4)) for failure in failed])


def test_writers_of_several_processes_wait_their_turn_instead_of_timing_out(tmp_path: Path) -> None:
    """Three worker processes of four threads, every thread writing without pause, and SQLite allowed to wait only
    20 ms for its lock: a writer waits for its turn, however long the queue, and never fails for want of it
    (left to SQLite's busy handler, which sleeps between attempts, writers of the other processes time out)."""
    database_url = f"sqlite:///{tmp_path}/queue.db"
    migrate(database_url)
    context = multiprocessing.get_context("fork")
    failures = context.SimpleQueue()
    workers = [context.Process(target=_write_from_threads, args=(database_url, 0.02, 100, failures))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert [failures.get() for _ in workers] == [[], [], []]
    with db.reading(engine_for(database_url)) as connection:
        assert connection.execute(select(func.count()).select_from(card_log)).scalar_one() == 3 * 4 * 100
        assert connection.execute(select(func.count()).select_from(replay.seen_token_ids)).scalar_one() == 1200


def test_the_schema_head_named_in_the_code_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


def test_the_schema_head_follows_a_new_migration_and_refuses_a_branch(tmp_path: Path) -> None:
    """A migration added later (Alembic's newer template annotates the names) becomes the head the service checks
    without anyone editing db.py; two heads — a branch ``alembic upgrade head`` refuses — stop the start."""
    import shutil

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts)
    (scripts / "versions" / "0007_later.py").write_text(
        f'revision: str = "0007"\ndown_revision: str | None = "{SCHEMA_HEAD}"\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade() -> None:\n    pass\n", encoding="utf-8")
    config = Config()
    config.set_main_option("script_location", str(scripts))
    assert db._alembic_head(scripts / "versions") == ScriptDirectory.from_config(config).get_current_head() == "0007"

    (scripts / "versions" / "0007_other.py").write_text(f'revision = "0007b"\ndown_revision = "{SCHEMA_HEAD}"\n',
                                                        encoding="utf-8")
    with pytest.raises(RuntimeError, match="2 migration heads"):
        db._alembic_head(scripts / "versions")


def test_a_database_at_head_starts_without_alembic_and_an_older_one_is_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cds.db'}"
    migrate(url)
    probe = ("import sys; from cds_service.db import migrate, engine_for; migrate(sys.argv[1]); "
             "print(engine_for(sys.argv[1]).connect().exec_driver_sql('SELECT version_num FROM alembic_version')"
             ".scalar(), 'alembic' in sys.modules)")
    at_head = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert at_head.stdout.split() == [SCHEMA_HEAD, "False"]

    from alembic import command
    from alembic.config import Config

    config = Config()  # a database left behind by the previous release
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "0003")
    engine_for(url).dispose()
    behind = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True)
    assert behind.stdout.split() == [SCHEMA_HEAD, "True"]
