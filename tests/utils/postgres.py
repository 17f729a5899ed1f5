"""A throwaway PostgreSQL cluster from Debian's packages, for the tests that need a real one.

``.ci/run`` installs the ``postgresql`` package; without it (or without root/postgres rights to run
``initdb``) these tests are reported as skipped, never as passed. A cluster can also be supplied with
``CDS_TEST_POSTGRES_URL`` (then the stop/start tests are skipped).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine

from tests.utils.server import free_port


def _bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return found[-1] if found and os.path.exists(os.path.join(found[-1], "initdb")) else None


@dataclass
class Cluster:
    url: str
    data_dir: str
    port: int
    bin_dir: str

    def _ctl(self, *args: str) -> None:
        command = [os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data_dir, *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast", "-w")

    def start(self) -> None:
        self._ctl("start", "-w", "-l", os.path.join(self.data_dir, "server.log"), "-o",
                  f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c max_connections=200")


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql); .ci/run installs it")
    data_dir = tempfile.mkdtemp(prefix="bzd-pg-")
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    os.chmod(data_dir, 0o700)
    subprocess.run(_as_postgres([os.path.join(bin_dir, "initdb"), "-D", data_dir, "-A", "trust", "-U", "postgres",
                                 "--no-sync"]), check=True, capture_output=True, timeout=120)
    port = free_port()
    cluster = Cluster(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data_dir, port, bin_dir)
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A running cluster for the whole test session."""
    given = os.environ.get("CDS_TEST_POSTGRES_URL")
    if given:
        yield Cluster(given, "", 0, "")
        return
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def fresh_database(postgres: Cluster) -> Iterator[str]:
    """The URL of a new, empty database on the session's cluster, dropped after the test."""
    name = f"t{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield postgres.url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
