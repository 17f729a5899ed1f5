"""The real server: gunicorn with the deployment config, called over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("data")
    env = {**os.environ, "CDS_BIND": f"127.0.0.1:{port}", "CDS_WORKERS": "2", "CDS_AUTH": "optional",
           "CDS_TRUSTED_ISSUERS": str(ROOT / "dev/trusted-issuers.dev.json"), "CDS_DATA_DIR": str(data_dir),
           "CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "deploy/gunicorn.conf.py"),
         "cds_service:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not become ready")
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
        assert b"Traceback" not in output, output.decode(errors="replace")


def test_discovery_over_http(server: str) -> None:
    response = requests.get(f"{server}/cds-services", timeout=5)
    assert response.status_code == 200
    assert {s["id"] for s in response.json()["services"]} == {
        "bzd-taper-order-sign", "bzd-taper-order-select", "bzd-taper-medication-prescribe"}


def test_baclofen_card_over_http(server: str) -> None:
    body = json.loads((ROOT / "fhir_fixtures/baclofen-adjunct-during-diazepam-taper/request.json").read_text())
    response = requests.post(f"{server}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == ["baclofen-adjunct"]


def test_malformed_body_over_http_is_400(server: str) -> None:
    response = requests.post(f"{server}/cds-services/bzd-taper-order-sign", data="{",
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
