"""FHIR-server faults during fallback, against a real local HTTP server: bounded time and memory, then 412. A worker
is never blocked past the configured timeout."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from tests.conftest import HookCalls, MakeApp
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.fhir_server import Behaviour, slow_drip


def huge_declared(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(200 * 1024 * 1024))
    handler.end_headers()
    handler.wfile.write(b"{")


def huge_streamed(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.end_headers()
    handler.wfile.write(b'{"resourceType": "Bundle", "entry": [')
    block = json.dumps({"resource": {"resourceType": "Condition", "id": "x" * 1000}}).encode() + b","
    for _ in range(30_000):  # about 30 MB, never finished
        handler.wfile.write(block)


def hangs(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(5)


@pytest.mark.parametrize("behaviour, reason", [
    (slow_drip, "timed out"), (huge_declared, "response too large"), (huge_streamed, "response too large"),
    (hangs, "timed out"),
], ids=["slow-drip", "huge-declared", "huge-streamed", "hangs"])
def test_fault_ends_in_412_for_its_reason(fhir_server: Callable[[Behaviour], str], behaviour: Behaviour, reason: str,
                                          caplog: pytest.LogCaptureFixture, make_app: MakeApp) -> None:
    """The drip lasts 20 s and the hang 5 s against a 1 s deadline: without the deadline the first would end in
    broken JSON and the second in a dropped connection, so the logged reason shows the deadline ended them."""
    hooks = HookCalls(make_app({"auth": "off", "fhir_timeout_s": 1.0}).test_client())
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    del body["prefetch"]["conditions"]
    body["fhirServer"] = fhir_server(behaviour)
    with caplog.at_level(logging.WARNING, "cds_service.fhir"):
        response = hooks.post(body)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["issue"][0]["diagnostics"]
    assert [r.reason for r in caplog.records if r.getMessage() == "FHIR fallback failed"] == [f"conditions: {reason}"]


def test_missing_keys_are_fetched_concurrently(fhir_server: Callable[[Behaviour], str], make_app: MakeApp) -> None:
    """Six searches of a server answering each in 0.2 s: in flight together, not one after the other."""
    in_flight, most = [0], [0]
    lock = threading.Lock()
    record = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())["prefetch"]

    def answers_slowly(handler: BaseHTTPRequestHandler) -> None:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.2)
        with lock:
            in_flight[0] -= 1
        kind = handler.path.split("/fhir/", 1)[1].split("?")[0].split("/")[0]
        key = {"Patient": "patient", "MedicationRequest": "medicationRequests", "Condition": "conditions",
               "MedicationDispense": "medicationDispenses", "MedicationStatement": "medicationStatements",
               "Observation": "observations"}[kind]
        payload = json.dumps(record[key]).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    hooks = HookCalls(make_app({"auth": "off"}).test_client())
    body = hooks.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    del body["prefetch"]
    body["fhirServer"] = fhir_server(answers_slowly)
    response = hooks.post(body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [c["source"]["topic"]["code"] for c in response.get_json()["cards"]] == ["baclofen-adjunct"]
    assert most[0] == 6
