"""Nothing lost: gunicorn with 4 workers, at least 2,000 feedback items from concurrent
clients, against SQLite and against PostgreSQL — every item answered 200 is stored exactly once.
Database down → 503 with an OperationOutcome; database back → the service recovers without a restart."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select

from cds_service.feedback.models import feedback
from tests.conftest import HookCalls
from tests.utils.fhir import baclofen_draft, diazepam_taper_15_to_12
from tests.utils.postgres import throwaway_cluster
from tests.utils.server import gunicorn

CARDS = 110
ITEMS_PER_CARD = 20  # 2,200 distinct items (a card keeps at most 20)
SYSTEM = "urn:bzd-taper-cds:override-reason"


def make_cards(base: str, count: int = CARDS) -> list[str]:
    uuids = []
    for n in range(count):
        body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12(), patient_id=f"c{n}")
        response = requests.post(f"{base}/cds-services/bzd-taper-order-sign", json=body, timeout=10)
        assert response.status_code == 200
        uuids.append(response.json()["cards"][0]["uuid"])
    return uuids


def items_for(cards: list[str]) -> list[dict[str, Any]]:
    start = datetime(2026, 3, 16, tzinfo=UTC)
    return [{"card": card, "outcome": "overridden",
             "outcomeTimestamp": (start + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "overrideReason": {"reason": {"code": "will-act", "system": SYSTEM}}}
            for card, n in itertools.product(cards, range(ITEMS_PER_CARD))]


def post_all(base: str, items: list[dict[str, Any]]) -> list[int]:
    """Post every item twice, in batches of 5, from 16 concurrent clients."""
    batches = [items[i:i + 5] for i in range(0, len(items), 5)] * 2
    sessions: dict[int, requests.Session] = {}

    def send(batch: list[dict[str, Any]]) -> int:
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        return session.post(f"{base}/cds-services/bzd-taper-order-sign/feedback", json={"feedback": batch},
                            timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(send, batches))


def count_rows(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(feedback)).scalar_one())
    engine.dispose()
    return total


def run_load(database_url: str, data_dir: Path) -> None:
    with gunicorn({"CDS_AUTH": "off", "DATABASE_URL": database_url, "CDS_DATA_DIR": str(data_dir)},
                  workers=4) as base:
        items = items_for(make_cards(base))
        statuses = post_all(base, items)
    assert len(items) >= 2000
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert count_rows(database_url) == len(items)


def test_sqlite_stores_every_item_exactly_once(tmp_path: Path) -> None:
    run_load(f"sqlite:///{tmp_path}/load.db", tmp_path)


def test_postgresql_stores_every_item_exactly_once(fresh_database: str, tmp_path: Path) -> None:
    run_load(fresh_database, tmp_path)


def test_database_down_is_503_and_the_service_recovers(tmp_path: Path) -> None:
    with throwaway_cluster() as cluster, gunicorn({"CDS_AUTH": "off", "DATABASE_URL": cluster.url,
                                                   "CDS_DATA_DIR": str(tmp_path)}, workers=2) as base:
        [card] = make_cards(base, count=1)
        item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-03-16T10:00:00Z"}
        url = f"{base}/cds-services/bzd-taper-order-sign/feedback"
        cluster.stop()
        down = requests.post(url, json={"feedback": [item]}, timeout=30)
        assert down.status_code == 503 and down.json()["resourceType"] == "OperationOutcome"
        assert requests.get(f"{base}/readyz", timeout=30).status_code == 503
        body = HookCalls.request(drafts=[baclofen_draft()], history=diazepam_taper_15_to_12())
        still = requests.post(f"{base}/cds-services/bzd-taper-order-sign", json=body, timeout=30)
        assert still.status_code == 200 and still.json()["cards"], "cards do not depend on the store"
        cluster.start()
        assert requests.post(url, json={"feedback": [item]}, timeout=30).status_code == 200
        assert requests.get(f"{base}/readyz", timeout=30).status_code == 200
        assert count_rows(cluster.url) == 1
