"""The card log written behind the response: nothing logged is lost while the database is down
or the worker stops, the queue is bounded, and feedback never misses a card that was just shown."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select

from cds_service.db import migrate
from cds_service.feedback import card_log as card_log_module
from cds_service.feedback.card_log import CardLog
from cds_service.feedback.models import card_log
from cds_service.feedback.repository import CardRecord, StoreUnavailable
from cds_service.logs import configure_logging
from tests.conftest import HookCalls, MakeApp
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.server import gunicorn


def logged(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        uuids = sorted(connection.execute(select(card_log.c.card_uuid)).scalars())
    engine.dispose()
    return uuids


def card(n: int) -> CardRecord:
    return CardRecord(f"00000000-0000-4000-8000-{n:012d}", "baclofen-adjunct", "warning")


def test_queued_cards_reach_the_database_without_anyone_flushing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/log.db"
    migrate(url)
    writer = CardLog(url, interval_s=0.01)
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1), card(2)])
    writer.add("bzd-taper-order-sign", "hook-2", "hash-b", [card(3)])
    deadline = time.monotonic() + 5
    while len(logged(url)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert logged(url) == [card(n).card_uuid for n in (1, 2, 3)]


def test_rows_wait_for_a_database_that_is_down_and_are_written_once_when_it_is_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/later.db"  # no schema yet: every write fails as if the database were down
    writer = CardLog(url, interval_s=60)
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1), card(2)])
    with pytest.raises(StoreUnavailable):
        writer.flush()
    migrate(url)
    writer.flush()
    writer.flush()
    assert logged(url) == [card(1).card_uuid, card(2).card_uuid]


def test_rows_already_written_when_their_batch_is_retried_are_kept_once_and_do_not_block_the_queue(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/again.db"  # e.g. a commit that happened but was reported lost with the connection
    migrate(url)
    writer = CardLog(url, interval_s=60)
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1), card(2)])
    writer.flush()
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1), card(2)])  # the same batch, queued again
    writer.add("bzd-taper-order-sign", "hook-2", "hash-b", [card(3)])
    writer.flush()
    assert logged(url) == [card(n).card_uuid for n in (1, 2, 3)]


def test_the_queue_is_bounded_while_the_database_is_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bounded.db"
    writer = CardLog(url, interval_s=60, max_pending=2)
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1), card(2), card(3)])
    migrate(url)
    writer.flush()
    assert logged(url) == [card(1).card_uuid, card(2).card_uuid]


def test_feedback_right_after_the_call_finds_its_card_still_queued(make_app: MakeApp) -> None:
    # An interval far longer than the test: the card is still queued when its feedback arrives.
    app = make_app({"card_log_interval_s": 600})
    client = app.test_client()
    [shown] = HookCalls(client).cards(HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12()))
    url = app.config["SETTINGS"].database_url
    assert shown["uuid"] not in logged(url)
    response = client.post("/cds-services/bzd-taper-order-sign/feedback", json={"feedback": [
        {"card": shown["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-03-16T10:00:00Z"}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert shown["uuid"] in logged(url)


def test_a_stopping_worker_writes_what_it_queued(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/stop.db"
    body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
    # An interval far longer than the test: only the exit flush can write the row.
    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": url, "CDS_DATA_DIR": str(tmp_path),
                   "CDS_CARD_LOG_INTERVAL_S": "600"}, workers=1) as base:
        [shown] = requests.post(f"{base}/cds-services/bzd-taper-order-sign", json=body, timeout=10).json()["cards"]
        assert logged(url) == []
    assert logged(url) == [shown["uuid"]]


def test_feedback_finds_a_card_still_queued_in_another_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/workers.db"
    # Half a second between writes: every feedback below arrives while its card is still queued, most of
    # them at a worker other than the one that showed the card.
    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": url, "CDS_DATA_DIR": str(tmp_path),
                   "CDS_CARD_LOG_INTERVAL_S": "0.5"}, workers=4) as base:
        def show(n: int) -> str:
            body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=f"w{n}")
            response = requests.post(f"{base}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
            return str(response.json()["cards"][0]["uuid"])

        def feedback(uuid: str) -> int:
            return requests.post(f"{base}/cds-services/bzd-taper-order-sign/feedback", timeout=10, json={
                "feedback": [{"card": uuid, "outcome": "overridden", "outcomeTimestamp": "2026-03-16T10:00:00Z"}]
            }).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            shown = list(pool.map(show, range(16)))  # concurrent calls: the cards are queued in several workers
            assert list(pool.map(feedback, shown)) == [200] * len(shown)
    assert logged(url) == sorted(shown)


def test_an_exit_flush_that_fails_says_so_on_the_stderr_open_at_exit(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # As under a test runner: logging is configured while sys.stderr is a stream that is closed before exit.
    monkeypatch.setattr(logging.getLogger("cds_service"), "handlers", [])
    at_start, at_exit = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", at_start)
    configure_logging()
    exit_functions: list[Callable[[], object]] = []
    monkeypatch.setattr(card_log_module.atexit, "register", exit_functions.append)
    writer = CardLog(f"sqlite:///{tmp_path}/never-migrated.db", interval_s=600)
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1)])
    at_start.close()
    monkeypatch.setattr(sys, "stderr", at_exit)
    for function in exit_functions:
        function()
    shown = at_exit.getvalue()
    assert "Logging error" not in shown
    assert '"message": "card log unavailable; rows kept for the next attempt"' in shown


def test_a_flush_during_the_background_write_returns_only_once_those_rows_are_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feedback and analytics flush the card log and then read it. When the background thread has just taken the
    queue and is still writing it, that flush must wait for the write, not find the queue empty and return: the
    analytics would count the feedback without its card (seen under load as a flaky analytics count)."""
    url = f"sqlite:///{tmp_path}/inflight.db"
    migrate(url)
    writing, release = threading.Event(), threading.Event()
    insert = card_log_module.insert_card_log_rows

    def held_insert(engine: Any, rows: list[dict[str, Any]]) -> None:
        writing.set()
        release.wait(10)  # the background write stays in flight until the test lets it finish
        insert(engine, rows)

    monkeypatch.setattr(card_log_module, "insert_card_log_rows", held_insert)
    writer = CardLog(url, interval_s=0)
    writer.add("bzd-taper-order-sign", "hook-1", "hash-a", [card(1)])
    assert writing.wait(10), "the background thread took the queue"
    seen: list[list[str]] = []
    flusher = threading.Thread(target=lambda: (writer.flush(), seen.append(logged(url))))
    flusher.start()
    flusher.join(0.5)  # long enough for a flush that does not wait to have returned
    release.set()
    flusher.join(10)
    assert seen == [[card(1).card_uuid]], "the flush returned before the rows it had to wait for were written"
