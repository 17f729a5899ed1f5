"""JSON encoding on the hot path (issue #7): orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def encode_json(value: Any, *, canonical: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON; ``canonical`` sorts object keys (for hashing).

    orjson is several times faster on cards and records, but refuses integers beyond 64 bits, which odd or
    hostile FHIR can carry through to a card or a run-ahead key: those take the slower path, never a 500.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if canonical else None, default=str)
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=canonical, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode()
