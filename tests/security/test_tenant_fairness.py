"""One client's calls against a stalled FHIR server cannot take every request thread of a worker: the other
clients stay answered within a second (README "Security": FHIR fallback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from tests.conftest import HookCalls
from tests.fhir.test_fhir_hostile_server import hook_call
from tests.utils.ehr import SIGN, token, trust_file
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.fhir_server import base_url, start_fhir_server
from tests.utils.server import gunicorn

STALLED, OTHER = "https://stalled-ehr.example", "https://other-ehr.example"


def stall(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(8)  # far past the call's 3 s fallback deadline


@pytest.fixture
def stalled_fhir() -> Iterator[str]:
    server = start_fhir_server(stall)
    yield base_url(server)
    server.shutdown()
    server.server_close()


def test_a_client_whose_fhir_server_stalls_does_not_hold_the_other_clients(tmp_path: Path, stalled_fhir: str) -> None:
    trust = trust_file(tmp_path, {STALLED: {"fhir_servers": [stalled_fhir]}, OTHER: {}})
    env = {"CDS_AUTH": "required", "CDS_TRUSTED_ISSUERS": str(trust), "CDS_THREADS": "8",
           "CDS_PATIENT_HASH_KEY": "k" * 16 + "ey-for-the-fairness-test", "CDS_FHIR_TIMEOUT_S": "3",
           "DATABASE_URL": f"sqlite:///{tmp_path}/cds.db"}
    with gunicorn(env, workers=1) as base:
        statuses: list[int] = []

        def stalled_call() -> None:
            response = requests.post(base + SIGN, json=hook_call(stalled_fhir, "medicationRequests"), timeout=30,
                                     headers={"Authorization": f"Bearer {token(STALLED, base + SIGN)}"})
            statuses.append(response.status_code)

        flood = [threading.Thread(target=stalled_call) for _ in range(24)]
        for thread in flood:
            thread.start()
        time.sleep(0.5)  # the flood holds its threads now
        waits = []
        for _ in range(5):
            body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
            started = time.monotonic()
            response = requests.post(base + SIGN, json=body, timeout=30,
                                     headers={"Authorization": f"Bearer {token(OTHER, base + SIGN)}"})
            waits.append(time.monotonic() - started)
            assert response.status_code == 200
        for thread in flood:
            thread.join(30)
    assert max(waits) < 1.0, waits
    # the stalled client's calls: those within its share wait for the deadline (412), the rest are refused at
    # once and may retry (429)
    assert len(statuses) == 24 and set(statuses) == {412, 429}, statuses
    assert statuses.count(412) >= 4 and statuses.count(429) >= 12, statuses  # a share of 4 of the 8 threads
