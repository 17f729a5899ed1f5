"""The two ceilings the service is measured against, under the same gunicorn settings:
(a) ``GET /ping`` — a minimal Flask app answering 1 KB of JSON (framework ceiling);
(b) ``POST /cds-services/bzd-taper-order-sign`` — receives and JSON-parses the same body as the service
    and answers ``{"cards": []}`` (payload ceiling), with the standard library as a minimal Flask app would;
(b') ``POST /orjson/cds-services/bzd-taper-order-sign`` — the same with orjson, the parser the service uses:
    the stricter ceiling, printed beside (b) so that the service's faster parser does not flatter it."""

from __future__ import annotations

import json

import orjson
from flask import Flask, Response, request

KILOBYTE = json.dumps({"padding": "x" * 1000})


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/ping")
    @app.get("/healthz")
    def ping() -> Response:
        return Response(KILOBYTE, content_type="application/json")

    @app.post("/cds-services/bzd-taper-order-sign")
    def parse() -> Response:
        json.loads(request.get_data())
        return Response('{"cards": []}', content_type="application/json")

    @app.post("/orjson/cds-services/bzd-taper-order-sign")
    def parse_with_orjson() -> Response:
        orjson.loads(request.get_data())
        return Response('{"cards": []}', content_type="application/json")

    return app
