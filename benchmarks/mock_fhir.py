"""A local mock FHIR server that adds 5 ms to every call (benchmark case d). It serves one patient's
record from the JSON file named by BENCH_RECORD (a hook request with prefetch)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from flask import Flask, Response, jsonify, request

KEYS = {"MedicationRequest": "medicationRequests", "MedicationDispense": "medicationDispenses",
        "MedicationStatement": "medicationStatements", "Condition": "conditions", "Observation": "observations"}


def create_app() -> Flask:
    app = Flask(__name__)
    with open(os.environ["BENCH_RECORD"], encoding="utf-8") as handle:
        prefetch: dict[str, Any] = json.load(handle)["prefetch"]

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/fhir/Patient/<ident>")
    def patient(ident: str) -> Response:
        time.sleep(0.005)
        return jsonify(prefetch["patient"])

    @app.get("/fhir/<kind>")
    def search(kind: str) -> Response:
        time.sleep(0.005)
        assert request.args.get("patient")
        return jsonify(prefetch[KEYS[kind]])

    return app
