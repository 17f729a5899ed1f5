"""The card log, written behind the response in batches (a hook call is on the EHR's clock).

Every card returned is logged (uuid, type, indicator, patient hash) so that feedback can name it, snooze
can find it and analytics can count it. One transaction per call cost about a tenth of the call; here a
call only queues its rows, and a background thread of the worker writes what queued during one
``interval_s`` in one transaction. The default is a quarter of a second: under load every transaction
costs all workers (on SQLite a commit also makes every other connection drop its page cache), and the
benchmark (benchmarks/) answers about 4 % more calls per second than with 50 ms batches.

Feedback does not need the row: a card's uuid proves who it was issued to (:mod:`cds_service.feedback.card_ids`).
The feedback and analytics endpoints flush their own worker's queue first, so the analytics count it soon.

What is queued when a worker stops is written at exit (``atexit``: gunicorn workers leave through
``sys.exit``); only a killed worker (SIGKILL, out of memory) loses its last interval of log rows — the cards themselves
were already answered. While the database is down, rows stay queued (up to ``max_pending``) and are
retried.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from cds_service.db import engine_for
from cds_service.feedback.repository import CardRecord, StoreUnavailable, card_log_rows, insert_card_log_rows
from cds_service.metrics import CARD_LOG_ROWS

log = logging.getLogger(__name__)

RETRY_AFTER_S = 0.5
"""After a failed write, the wait before the next attempt: the database is down, do not hammer it."""
_start_lock = threading.Lock()


class CardLog:
    def __init__(self, database_url: str, interval_s: float = 0.25, max_pending: int = 20_000) -> None:
        self._database_url = database_url
        self.interval_s = interval_s
        self._max_pending = max_pending
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._wake = threading.Event()

    def add(self, service_id: str, hook_instance: str, patient: str, cards: Iterable[CardRecord],
            client: str = "", shadow: bool = False) -> None:
        """Queue the cards of one call; they reach the database within about ``interval_s``. ``shadow``: computed
        and not sent (the client is in shadow mode)."""
        rows = card_log_rows(service_id, hook_instance, patient, cards, client, shadow=shadow)
        if not rows:
            return
        self._start_in_this_process()
        with self._lock:
            room = max(0, self._max_pending - len(self._pending))
            self._pending.extend(rows[:room])
        if room < len(rows):
            CARD_LOG_ROWS.labels("dropped").inc(len(rows) - room)
            log.error("card log queue full; rows dropped", extra={"cards": [f"dropped:{len(rows) - room}"]})
        self._wake.set()

    def flush(self) -> None:
        """Write what this worker has queued, now; :class:`StoreUnavailable` if it cannot (rows are kept).

        When it returns, every row queued before the call is in the database: a write already in flight (the
        background thread took the queue a moment ago) is waited for, not skipped — otherwise feedback or analytics
        arriving during that write would read the log without the rows it is writing."""
        with self._writing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                insert_card_log_rows(engine_for(self._database_url), rows)
                CARD_LOG_ROWS.labels("written").inc(len(rows))
            except StoreUnavailable:
                CARD_LOG_ROWS.labels("retried").inc(len(rows))
                with self._lock:
                    self._pending = (rows + self._pending)[: self._max_pending]
                raise

    def _start_in_this_process(self) -> None:
        # The app is preloaded, then forked: neither a thread nor a held lock survives a fork, so each worker
        # starts its own writer with its first card.
        if self._pid == os.getpid():
            return
        with _start_lock:
            if self._pid == os.getpid():
                return
            self._lock = threading.Lock()
            self._writing = threading.Lock()
            self._pending = []
            self._wake = threading.Event()
            threading.Thread(target=self._write_in_background, name="card-log", daemon=True).start()
            atexit.register(self._flush_and_log)
            self._pid = os.getpid()

    def _write_in_background(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.interval_s)  # the calls of one interval share a transaction
            self._wake.clear()
            if not self._flush_and_log():
                time.sleep(RETRY_AFTER_S)
                self._wake.set()

    def _flush_and_log(self) -> bool:
        try:
            self.flush()
            return True
        except StoreUnavailable as exc:
            log.error("card log unavailable; rows kept for the next attempt", extra={"error_type": str(exc)})
            return False
