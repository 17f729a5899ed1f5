"""The two ceilings the service is measured against, under the same gunicorn settings:
(a) ``GET /ping`` — a minimal Flask app answering 1 KB of JSON (framework ceiling);
(b) ``POST /cds-services/bzd-taper-order-sign`` — receives and JSON-parses the same body as the service
    and answers ``{"cards": []}`` (payload ceiling)."""

from __future__ import annotations

import json

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

    return app
