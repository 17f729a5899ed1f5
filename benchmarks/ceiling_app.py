"""The two ceilings the service is measured against, under the same gunicorn settings:
(a) ``GET /ping`` — a minimal Flask app answering 1 KB of JSON (framework ceiling);
(b) ``POST /cds-services/bzd-taper-order-sign`` — receives and parses the same body as the service, with the
    same JSON library (orjson, as ``cds_service.api.json_body``), and answers ``{"cards": []}`` (payload
    ceiling): what any Flask service must spend to take this body in."""

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
        orjson.loads(request.get_data(cache=True))
        return Response('{"cards": []}', content_type="application/json")

    return app
