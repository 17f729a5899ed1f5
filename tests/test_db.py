"""Database timeouts (cds_service/db.py): a PostgreSQL that stops answering — frozen with SIGSTOP, its
connections still acknowledged by the kernel — must not hang the workers. Calls that need the store fail
fast with 503, probes answer at once, and everything works again once the database is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from cds_service.db import MIGRATIONS, SCHEMA_HEAD, engine_for, migrate
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


def test_the_schema_head_named_in_the_code_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


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
