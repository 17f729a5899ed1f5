"""Strict parsing of request bodies: hostile JSON gets a 400, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Request

from cds_service.errors import BadRequest, ServiceError
from cds_service.json_codec import decode_json


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


def json_body(request: Request, decode: Callable[[bytes], Any | None] | None = None) -> Any:
    """The request's JSON, or a 415/400 ServiceError. NaN/Infinity and nesting deeper than Python's
    recursion limit are refused, as are bodies that are not UTF-8.

    ``decode``, when given, is tried first: a decoder for one kind of body that answers ``None`` for what it leaves
    to the general one (:func:`~cds_service.json_codec.decode_json`), and refuses nothing the general one reads."""
    if not request.is_json:
        raise ServiceError("the request body must be application/json", status=415, issue_code="not-supported")
    raw = _body(request)
    if not raw.strip():
        raise BadRequest("the request body is empty: send the hook request as JSON")
    if decode is not None and (value := decode(raw)) is not None:
        return value
    return decode_json(raw)
