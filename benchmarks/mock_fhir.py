"""A local mock FHIR server for the fallback cases: it serves one patient's record (the prefetch object in the
JSON file named by BENCH_RECORD) and answers each read or search after BENCH_FHIR_DELAY_S seconds (default
0.005), as a remote EHR would. The answers are serialised once, so that the mock costs the shared CPUs little."""

from __future__ import annotations

import json
import os
import time

from flask import Flask, Response, request

KEYS = {"MedicationRequest": "medicationRequests", "MedicationDispense": "medicationDispenses",
        "MedicationStatement": "medicationStatements", "Condition": "conditions", "Observation": "observations"}


def create_app() -> Flask:
    app = Flask(__name__)
    with open(os.environ["BENCH_RECORD"], encoding="utf-8") as handle:
        prefetch = {key: json.dumps(value) for key, value in json.load(handle).items()}
    delay = float(os.environ.get("BENCH_FHIR_DELAY_S", "0.005"))

    def answer(key: str) -> Response:
        time.sleep(delay)
        return Response(prefetch[key], content_type="application/fhir+json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status": "ok"}', content_type="application/json")

    @app.get("/fhir/Patient/<ident>")
    def patient(ident: str) -> Response:
        return answer("patient")

    @app.get("/fhir/<kind>")
    def search(kind: str) -> Response:
        assert request.args.get("patient")
        return answer(KEYS[kind])

    return app
