"""The shipped ``deploy/nginx.conf`` run by Debian's nginx in front of local gunicorn instances."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.utils.server import free_port, wait_until_ready

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@contextmanager
def nginx_in_front_of(*upstreams: str, port: int | None = None, ready_path: str = "/healthz") -> Iterator[str]:
    """Yield the base URL of nginx with the shipped configuration, its upstream line replaced by ``upstreams``
    (``host:port`` each: the replicas a Service or compose would resolve ``cds`` to) and its listen line by
    ``127.0.0.1:port``. Skips the test where nginx is not installed."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed (Debian package nginx); .ci/run installs it")
    port = port or free_port()
    conf = (DEPLOY / "nginx.conf").read_text()
    servers = " ".join(f"server {upstream};" for upstream in upstreams)
    local = conf.replace("server cds:8080;", servers).replace("listen 8080;", f"listen 127.0.0.1:{port};")
    assert local.count(servers) == 1 and f"127.0.0.1:{port}" in local, "the shipped file changed shape"
    prefix = Path(tempfile.mkdtemp(prefix="bzd-nginx-"))
    (prefix / "nginx.conf").write_text(local)
    directives = f"daemon off; pid {prefix}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else "")
    process = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                str(prefix / "error.log"), "-g", directives], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_ready(f"{base}{ready_path}", process=process):
            raise RuntimeError("nginx did not start: " + (prefix / "error.log").read_text(errors="replace"))
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(prefix, ignore_errors=True)
