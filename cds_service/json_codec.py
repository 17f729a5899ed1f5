"""JSON encoding on the hot path (issue #7): orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def encode_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON.

    orjson is several times faster on cards, but refuses integers beyond 64 bits, which odd or hostile FHIR can
    carry through to a card: those take the slower path, never a 500.
    """
    try:
        return orjson.dumps(value, default=str)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
