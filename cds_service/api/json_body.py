"""Strict parsing of request bodies: hostile JSON gets a 400, never a 500 (issue #5 "Hostile input")."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Request

from cds_service.errors import BadRequest, ServiceError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(request: Request) -> Any:
    """The request's JSON, or a 415/400 ServiceError. NaN/Infinity and nesting deeper than Python's
    recursion limit are refused, as are bodies that are not UTF-8."""
    if not request.is_json:
        raise ServiceError("the request body must be application/json", status=415, issue_code="not-supported")
    raw = request.get_data(cache=True)
    try:
        return orjson.loads(raw)  # several times faster on a 50 KB record; refuses NaN, bad UTF-8, depth > 1024
    except orjson.JSONDecodeError:
        pass  # the standard library has the last word: it says why, and reads what orjson will not
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
        raise BadRequest(f"the request body is {reason}") from None
