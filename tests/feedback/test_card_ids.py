"""Card uuids prove themselves (cds_service.feedback.card_ids): feedback on any card the service returned is
accepted — at once, even when its card-log row is still queued or was lost with a killed worker — and only
from the client, at the service, and naming the suggestions it was issued with."""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select

from cds_service.feedback.card_ids import CardIds
from cds_service.feedback.models import card_log, feedback
from tests.conftest import HookCalls
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.server import gunicorn

SIGN = "bzd-taper-order-sign"


def test_a_card_uuid_names_its_client_service_and_time() -> None:
    ids = CardIds("k" * 40)
    issued = datetime(2026, 11, 29, 6, 0, 0, 123000, tzinfo=UTC)
    make = ids.for_card("https://ehr.example", SIGN, issued)
    card, first, second = make(), make(), make()
    assert {uuid.UUID(u).version for u in (card, first, second)} == {4}
    assert ids.issued(card, "https://ehr.example", SIGN) == issued
    assert ids.issued(card, "https://other.example", SIGN) is None
    assert ids.issued(card, "https://ehr.example", "bzd-taper-order-select") is None
    assert CardIds("x" * 40).issued(card, "https://ehr.example", SIGN) is None, "another installation's key"
    tampered = card[:-1] + ("0" if card[-1] != "0" else "1")
    assert ids.issued(tampered, "https://ehr.example", SIGN) is None
    assert {first, second} <= ids.suggestions(card) and first not in ids.suggestions(tampered)
    assert ids.issued("not-a-uuid", "https://ehr.example", SIGN) is None


def test_an_unknown_card_is_refused_without_waiting(client: FlaskClient) -> None:
    started = time.monotonic()
    response = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [
        {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-03-16T10:00:00Z"}]})
    assert response.status_code == 400 and "unknown card" in response.get_json()["issue"][0]["diagnostics"]
    assert time.monotonic() - started < 0.5, "no sleeping in a request for other workers' queues"


def _workers_of(port: int) -> list[int]:
    """gunicorn worker pids serving 127.0.0.1:port (processes whose parent serves it too)."""
    serving = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if f"CDS_BIND=127.0.0.1:{port}".encode() in environ.split(b"\0"):
                serving.append((int(entry), parent))
    pids = {pid for pid, _ in serving}
    return [pid for pid, parent in serving if parent in pids]


def test_feedback_on_a_card_whose_log_row_died_with_its_worker_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/killed.db"
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    # An interval far longer than the test: the row is still queued when the worker is killed.
    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": url, "CDS_DATA_DIR": str(tmp_path),
                   "CDS_CARD_LOG_INTERVAL_S": "600"}, workers=1) as base:
        [card] = requests.post(f"{base}/cds-services/{SIGN}", json=body, timeout=10).json()["cards"]
        [worker] = _workers_of(int(base.rsplit(":", 1)[1]))
        os.kill(worker, signal.SIGKILL)
        accepted = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-03-16T10:00:00Z",
                    "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}
        deadline = time.monotonic() + 20
        while True:  # until gunicorn has booted a new worker
            try:
                response = requests.post(f"{base}/cds-services/{SIGN}/feedback", json={"feedback": [accepted]},
                                         timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        forged = {**accepted, "card": str(uuid.uuid4())}
        refused = requests.post(f"{base}/cds-services/{SIGN}/feedback", json={"feedback": [forged]}, timeout=10)
    assert response.status_code == 200, response.text
    assert refused.status_code == 400
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(card_log)).scalar_one() == 0, "the row was lost"
        assert connection.execute(select(feedback.c.card_uuid)).scalars().all() == [card["uuid"]]
    engine.dispose()
