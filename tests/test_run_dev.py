"""`make run`'s script (scripts/run-dev.sh): ports chosen with PORT / FHIR_PORT, both servers answering, and a
second start on the same ports refused with a message that says what is going on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.utils.server import ROOT, free_port, wait_until_ready

SCRIPT = ROOT / "scripts/run-dev.sh"


def _start(port: int, fhir_port: int, output: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SCRIPT)], cwd=ROOT, env={**os.environ, "PORT": str(port), "FHIR_PORT": str(fhir_port)},
                            stdout=output, stderr=output, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[int, int, float]]:
    port, fhir_port = free_port(), free_port()
    started = time.monotonic()
    # A file, not a pipe: the servers' access log would fill a pipe nobody reads and block them.
    log = tempfile.TemporaryFile(mode="w+")
    process = _start(port, fhir_port, log)
    try:
        assert wait_until_ready(f"http://127.0.0.1:{port}/readyz", f"http://127.0.0.1:{fhir_port}/fhir/metadata",
                                process=process), "make run's servers did not answer within a minute"
        yield port, fhir_port, time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def test_run_serves_the_service_and_the_demo_server_on_the_chosen_ports(running: tuple[int, int, float]) -> None:
    port, fhir_port, seconds = running
    services = requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=5).json()["services"]
    assert "bzd-taper-order-sign" in {s["id"] for s in services}
    patient = requests.get(f"http://127.0.0.1:{fhir_port}/fhir/Patient/demo-diazepam-taper", timeout=5)
    assert patient.json()["resourceType"] == "Patient"
    assert seconds < 60


def test_a_second_run_on_the_same_ports_says_it_is_already_running(running: tuple[int, int, float]) -> None:
    port, fhir_port, _ = running
    second = _start(port, fhir_port)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 1
    assert err.startswith(f"The bzd-taper-cds service is already running on 127.0.0.1:{port} (another 'make run'?)")
    assert "PORT=9080 FHIR_PORT=9081 make run" in err


def test_a_port_taken_by_another_program_is_named() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        process = _start(free_port(), taken)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err.strip() == (f"Port {taken} on 127.0.0.1 is used by another program: cannot start the demo FHIR "
                           "server there. Choose another port: FHIR_PORT=<port> make run")
