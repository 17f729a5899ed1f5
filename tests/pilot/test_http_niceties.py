"""What an integrator notices first: clear answers to an empty body, a wrong service id, a discovery URL with a
trailing slash, a second feedback on one card; logs in one format with the probes below INFO."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.api.test_feedback import FEEDBACK, baclofen_card, now_iso, overridden
from tests.utils.server import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
SIGN = "/cds-services/bzd-taper-order-sign"


def test_an_empty_body_is_called_empty(client: FlaskClient) -> None:
    for body in ("", "  \n"):
        response = client.post(SIGN, data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["issue"][0]["diagnostics"] == ("the request body is empty: send the hook request "
                                                                  "as JSON")


def test_an_unknown_service_id_lists_the_services(client: FlaskClient) -> None:
    for path in ("/cds-services/bzd-taper-order-sing", "/cds-services/bzd-taper-order-sing/feedback"):
        response = client.post(path, json={})
        assert response.status_code == 404
        assert response.get_json()["issue"][0]["diagnostics"] == (
            "no CDS service with id 'bzd-taper-order-sing'; the services are bzd-taper-order-sign, "
            "bzd-taper-order-select, bzd-taper-medication-prescribe (discovery: GET /cds-services)")


def test_discovery_and_calls_answer_with_a_trailing_slash(client: FlaskClient) -> None:
    assert client.get("/cds-services/").get_json() == client.get("/cds-services").get_json()
    response = client.post(SIGN + "/", json={"hook": "order-sign"})
    assert response.status_code == 400, "reaches the service (a bad request), not a 404"
    assert "hookInstance" in response.get_json()["issue"][0]["diagnostics"]


def test_a_second_feedback_on_a_card_is_answered_as_superseding(client: FlaskClient) -> None:
    card = baclofen_card(client)
    first = client.post(FEEDBACK, json={"feedback": [overridden(card, "not-applicable")]})
    assert first.get_json() == {"stored": 1, "alreadyStored": 0}
    again = client.post(FEEDBACK, json={"feedback": [overridden(card, "not-applicable")]})
    assert again.get_json() == {"stored": 0, "alreadyStored": 1}, "the same item twice is one item"
    accepted = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": now_iso(),
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}
    second = client.post(FEEDBACK, json={"feedback": [accepted]})
    assert second.get_json() == {
        "stored": 1, "alreadyStored": 0, "superseded": [card["uuid"]],
        "note": "these cards already had feedback: both are kept; analytics count the latest outcome, and a "
                "snoozing override among them snoozes until it ends or is cleared"}
    report = client.get("/analytics").get_json()["card_types"]["baclofen-adjunct"]
    assert (report["accepted"], report["overridden"]) == (1, 0)


def test_health_probes_log_below_info_and_calls_at_info(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    with caplog.at_level(logging.DEBUG, logger="cds_service.http"):
        client.get("/healthz")
        client.get("/readyz")
        client.get("/cds-services")
    levels = {r.path: r.levelno for r in caplog.records if r.name == "cds_service.http"}  # type: ignore[attr-defined]
    assert levels == {"/healthz": logging.DEBUG, "/readyz": logging.DEBUG, "/cds-services": logging.INFO}


def test_gunicorn_writes_json_lines_only_on_stderr_and_nothing_on_stdout(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CDS_AUTH": "off", "CDS_DATA_DIR": str(tmp_path), "CDS_BIND": f"127.0.0.1:{port}",
           "CDS_WORKERS": "1", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
                                    "cds_service:create_app()"], cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        try:
            assert wait_until_ready(f"http://127.0.0.1:{port}/healthz", process=process)
            requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=5)
            time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    assert out.read_text() == ""
    lines = [json.loads(line) for line in err.read_text().splitlines()]
    assert {line["logger"] for line in lines} >= {"gunicorn.error", "cds_service.http"}
    assert [line["path"] for line in lines if line.get("message") == "request"] == ["/cds-services"]
    assert "Booting worker with pid: " in " ".join(line["message"] for line in lines)
