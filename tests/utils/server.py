"""Run the real service under gunicorn on 127.0.0.1 for tests that must cross a real HTTP boundary."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

READY_WITHIN_S = 60.0
"""How long a server under test may take to answer at all — generous, as seven test runs may share two cores."""
PROBE_TIMEOUT_S = 5.0
"""One readiness probe's wait: a server still starting may accept a connection long before it answers."""


def wait_until_ready(*urls: str, process: subprocess.Popen[bytes] | subprocess.Popen[str],
                     within: float = READY_WITHIN_S) -> bool:
    """Poll until every URL answers 2xx: ``True``; ``False`` if ``process`` exits or ``within`` seconds pass.

    A probe that times out or is refused is retried, not failed: under load a starting server answers late."""
    deadline = time.monotonic() + within
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if all(requests.get(url, timeout=PROBE_TIMEOUT_S).ok for url in urls):
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2, python: Path | None = None, cwd: Path = ROOT,
             command_prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Yield the base URL of a gunicorn serving ``cds_service:create_app()`` with the deployment config.

    ``python`` runs gunicorn from another environment (an installed wheel) instead of this one;
    ``command_prefix`` wraps the command (e.g. in a private mount namespace)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "CDS_BIND": f"127.0.0.1:{port}", "CDS_WORKERS": str(workers),
                "CDS_PUBLIC_BASE_URL": base, **env}
    # Output goes to a file, not a pipe: a pipe nobody reads fills up and blocks the workers.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [*command_prefix, str(python or sys.executable), "-m", "gunicorn",
         "--config", str(ROOT / "deploy/gunicorn.conf.py"), "cds_service:create_app()"],
        cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        if not wait_until_ready(f"{base}/healthz", process=process):
            log.seek(0)
            raise RuntimeError("gunicorn did not become ready:\n" + log.read().decode(errors="replace")[-3000:])
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.seek(0)
        output = log.read()
        log.close()
        if b"Traceback" in output or b"WORKER TIMEOUT" in output:
            raise AssertionError(output.decode(errors="replace")[-5000:])
