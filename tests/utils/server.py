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
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                log.seek(0)
                raise RuntimeError("gunicorn did not become ready:\n" + log.read().decode(errors="replace")[-3000:])
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.seek(0)
        output = log.read()
        log.close()
        if b"Traceback" in output or b"WORKER TIMEOUT" in output:
            raise AssertionError(output.decode(errors="replace")[-5000:])
