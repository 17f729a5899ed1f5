"""Structured JSON logs that cannot carry patient data or tokens.

Only allow-listed fields are written: a log call's ``extra`` keys outside ``SAFE_FIELDS`` are dropped,
and messages are fixed strings chosen by the code, never request content. Every line of a request
carries its request id (``X-Request-ID`` when it looks safe, else a new UUID).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

SAFE_FIELDS = ("request_id", "hookInstance", "service", "rule", "error_type", "reason", "method", "path",
               "status", "duration_ms", "iss", "jti", "cards", "failed_rules", "fetched_keys",
               "snoozed", "shadow")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PROBES = ("/healthz", "/readyz", "/metrics")
_NOISY = ("urllib3", "requests", "werkzeug")
"""Libraries whose DEBUG lines include URLs with patient ids: never below WARNING."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            # gunicorn's own lines (worker boots and exits) carry no request content: their arguments are kept
            "message": record.getMessage() if record.name.startswith(("cds_service", "gunicorn.error"))
            else record.msg,
        }
        for name in SAFE_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        return json.dumps(line, default=str)


class RequestContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
            if "hook_instance" in g:
                record.hookInstance = g.hook_instance
        return True


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is logged, not as it was when logging was configured.

    The card log's exit flush logs from ``atexit``, after a test runner has closed the stream it had put in
    ``sys.stderr`` while the app was created; a handler holding that stream would fail with "I/O operation on
    closed file" and lose the line. Under gunicorn ``sys.stderr`` never changes, so nothing else differs."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    package = logging.getLogger("cds_service")
    if not any(isinstance(h.formatter, JsonFormatter) for h in package.handlers):
        handler = CurrentStderr()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestContext())
        package.addHandler(handler)
        package.propagate = True
    package.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


def init_request_logging(app: Flask) -> None:
    log = logging.getLogger("cds_service.http")
    if not any(isinstance(one, RequestContext) for one in log.filters):  # one, however many apps a process makes
        log.addFilter(RequestContext())

    @app.before_request
    def start() -> None:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else str(uuid.uuid4())
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        # Probes answer every few seconds: at INFO they would bury the calls; a failing probe still shows.
        level = logging.DEBUG if request.path in _PROBES and response.status_code < 400 else logging.INFO
        if log.isEnabledFor(level):  # at CDS_LOG_LEVEL=WARNING the line's fields are not even gathered
            log.log(level, "request", extra={
                "method": request.method, "path": request.path, "status": response.status_code,
                "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1),
            })
        return response
