"""Slow clients against the shipped deployment: gunicorn behind ``deploy/nginx.conf`` (Debian's nginx).

Sockets that send one header line per second would each hold a gunicorn worker for as long as they drip
(until the worker timeout kills it); behind the buffering proxy they hold nothing but an nginx connection,
and probes and hook calls are answered as fast as ever.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import HookCalls
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.nginx import nginx_in_front_of
from tests.utils.server import gunicorn

DRIPPING_SOCKETS = 6
"""Three times the workers of the gunicorn under test."""


def drip(base: str, stop: threading.Event) -> None:
    """A client that sends its request head one header line per second, for as long as the test runs."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /cds-services/bzd-taper-order-sign HTTP/1.1\r\nHost: cds\r\n")
        line = 0
        while not stop.wait(1.0):
            line += 1
            try:
                sock.sendall(f"X-Drip-{line}: 1\r\n".encode())
            except OSError:
                return  # the proxy gave up on us: exactly what it should do


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn with two workers behind the shipped nginx configuration."""
    folder = tmp_path_factory.mktemp("proxied")
    env = {"CDS_AUTH": "off", "DATABASE_URL": f"sqlite:///{folder}/cds.db", "CDS_DATA_DIR": str(folder)}
    with gunicorn(env, workers=2) as upstream, nginx_in_front_of(upstream.removeprefix("http://")) as base:
        yield base


def test_the_proxy_does_not_forward_metrics(proxied: str) -> None:
    """Prometheus scrapes each instance directly; through the proxy /metrics is not found, however spelled."""
    for path in ("/metrics", "//metrics", "/%6detrics", "/./metrics", "/metrics?format=x", "/x/../metrics"):
        response = requests.get(proxied + path, timeout=5)
        assert response.status_code == 404 and "# HELP" not in response.text, path
    assert requests.get(f"{proxied}/healthz", timeout=5).status_code == 200


def test_slow_header_clients_do_not_delay_probes_or_hook_calls(proxied: str) -> None:
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    stop = threading.Event()
    drippers = [threading.Thread(target=drip, args=(proxied, stop)) for _ in range(DRIPPING_SOCKETS)]
    for thread in drippers:
        thread.start()
    try:
        time.sleep(1.5)  # every dripping socket is connected and has sent a line or two
        slowest = 0.0
        for _ in range(6):
            started = time.monotonic()
            assert requests.get(f"{proxied}/healthz", timeout=5).status_code == 200
            hook = requests.post(f"{proxied}/cds-services/bzd-taper-order-sign", json=body, timeout=5)
            assert hook.status_code == 200 and hook.json()["cards"]
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in drippers:
            thread.join()
    assert slowest < 1.0, f"a probe and a hook call took {slowest:.2f} s while {DRIPPING_SOCKETS} clients dripped"


def test_the_proxy_answers_an_oversized_chunked_body_with_an_operation_outcome(proxied: str) -> None:
    chunks = (b"[" + b"1," * 50_000 + b"1]" for _ in range(30))  # about 3 MB, no Content-Length
    response = requests.post(f"{proxied}/cds-services/bzd-taper-order-sign", data=chunks, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-long"
