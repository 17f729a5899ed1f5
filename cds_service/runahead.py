"""Run-ahead (issue #7 item 3): order-select may precompute what the matching order-sign will ask.

When order-select fires, the service also evaluates *all* draft orders, as order-sign would, and keeps the
rule findings for a short window. An order-sign whose relevant inputs are unchanged — the patient, every
draft order, the part of the record the rules read (:func:`cds_service.fhir.parse.relevant_resources`), what
could not be fetched, and the clinical settings, hashed together (never the patient id alone) — reuses them
instead of parsing and evaluating again. Cards are always built fresh (new uuids), and snooze is applied at
answer time. Per process, bounded in entries and time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cds_service.clinical.engine import EngineResult
from cds_service.json_codec import encode_json

MAX_ENTRIES = 256
TTL_S = 120.0


@dataclass(frozen=True)
class RunAhead:
    result: EngineResult
    incomplete: tuple[str, ...]
    """What the record lacked; the cards built from ``result`` say so."""


def run_ahead_key(patient_id: str, drafts: list[dict[str, Any]], relevant: list[dict[str, Any]],
                  missing: list[str], settings: tuple[str, ...]) -> str:
    return hashlib.sha256(encode_json({"patient": patient_id, "drafts": drafts, "record": relevant,
                                       "missing": missing, "settings": settings}, canonical=True)).hexdigest()


class RunAheadCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, ttl_s: float = TTL_S) -> None:
        self._entries: OrderedDict[str, tuple[float, RunAhead]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_s = ttl_s
        self._lock = threading.Lock()

    def get(self, key: str) -> RunAhead | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, result = entry
            if time.monotonic() > expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return result

    def put(self, key: str, result: RunAhead) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self._ttl_s, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
