"""Strict parsing of request bodies: hostile JSON gets a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Request

from cds_service.errors import BadRequest, ServiceError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _body(request: Request) -> bytes:
    """The body, refused with 413 when over the limit — a chunked one too: it declares no length, and reading
    it through the size-limited stream would silently cut it at the limit (then a 400 for broken JSON)."""
    limit = request.max_content_length
    if request.content_length is None and limit is not None and request.environ.get("wsgi.input_terminated"):
        raw: bytes = request.environ["wsgi.input"].read(limit + 1)
        if len(raw) > limit:
            raise ServiceError(f"the request body is larger than {limit // 1024 // 1024} MiB", status=413,
                               issue_code="too-long")
        return raw
    return request.get_data(cache=True)


def json_body(request: Request) -> Any:
    """The request's JSON, or a 415/400 ServiceError. NaN/Infinity and nesting deeper than Python's
    recursion limit are refused, as are bodies that are not UTF-8."""
    if not request.is_json:
        raise ServiceError("the request body must be application/json", status=415, issue_code="not-supported")
    raw = _body(request)
    if not raw.strip():
        raise BadRequest("the request body is empty: send the hook request as JSON")
    try:
        return orjson.loads(raw)  # several times faster on a 50 KB record; refuses NaN, bad UTF-8, depth > 1024
    except orjson.JSONDecodeError:
        pass  # the standard library has the last word: it says why, and reads what orjson will not
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        # orjson refuses what the standard library reads but no JSON text can carry as UTF-8: a lone surrogate
        # escape ("\ud800") would fail later, when a string is encoded, as a 500.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except (ValueError, RecursionError, UnicodeError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
        if isinstance(exc, UnicodeEncodeError):
            reason = "not valid JSON (a string holds a lone UTF-16 surrogate)"
        raise BadRequest(f"the request body is {reason}") from None
