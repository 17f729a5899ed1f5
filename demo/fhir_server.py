"""A small open FHIR R4 endpoint serving the demo patients, for trying the service with a CDS client.

Demo and test tool only — not part of the service, no authentication, read-only, in memory. It serves
``GET /fhir/metadata``, reads (``GET /fhir/{type}/{id}``), searches by patient (``GET /fhir/{type}?patient=``
and ``POST /fhir/{type}/_search``; Observation also by ``code=system|code,...``), with CORS for browsers.
Run: ``gunicorn -b 127.0.0.1:8081 'demo.fhir_server:create_app()'``.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_cors import CORS

ROOT = Path(__file__).resolve().parents[1]
RESOURCE_KEYS = ("medicationRequests", "medicationDispenses", "medicationStatements", "conditions", "observations")


def load_demo_patients(fixtures: Path = ROOT / "fhir_fixtures") -> dict[str, dict[str, dict[str, Any]]]:
    """Resource type → id → resource, for every demo patient of demo/patients.json."""
    store: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    spec = json.loads((Path(__file__).parent / "patients.json").read_text(encoding="utf-8"))
    for demo in spec["patients"]:
        prefetch = json.loads((fixtures / demo["fixture"] / "request.json").read_text(encoding="utf-8"))["prefetch"]
        # New ids per demo patient; references between its resources (subject, priorPrescription) follow.
        text = json.dumps(prefetch).replace(f'"Patient/{prefetch["patient"]["id"]}"', f'"Patient/{demo["id"]}"')
        for key in RESOURCE_KEYS:
            for entry in prefetch[key].get("entry", []):
                kind, old = entry["resource"]["resourceType"], entry["resource"].get("id")
                if old:
                    text = text.replace(f'"{kind}/{old}"', f'"{kind}/{demo["id"]}-{old}"')
        prefetch = json.loads(text)
        summary = f'<div xmlns="http://www.w3.org/1999/xhtml">{demo["about"]}</div>'
        patient = {**prefetch["patient"], "id": demo["id"],
                   "name": [{"given": [demo["given"]], "family": demo["family"]}],
                   "text": {"status": "generated", "div": summary}}
        store["Patient"][demo["id"]] = patient
        for key in RESOURCE_KEYS:
            for entry in prefetch[key].get("entry", []):
                resource = copy.deepcopy(entry["resource"])
                resource["id"] = f'{demo["id"]}-{resource.get("id", len(store[resource["resourceType"]]))}'
                resource.setdefault("subject", {"reference": f'Patient/{demo["id"]}'})
                store[resource["resourceType"]][resource["id"]] = resource
    return store


def _outcome(status: int, text: str) -> tuple[Response, int]:
    return jsonify({"resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "not-found", "diagnostics": text}]}), status


def _matches(resource: dict[str, Any], params: dict[str, str]) -> bool:
    patient = params.get("patient") or params.get("subject")
    if patient and resource.get("subject", {}).get("reference") not in (patient, f"Patient/{patient}"):
        return False
    codes = [c for c in params.get("code", "").split(",") if c]
    if codes:
        codings = resource.get("code", {}).get("coding", [])
        wanted = {tuple(c.split("|", 1)) if "|" in c else ("", c) for c in codes}
        if not any((cd.get("system", ""), cd.get("code")) in wanted or ("", cd.get("code")) in wanted
                   for cd in codings):
            return False
    return True


def create_app() -> Flask:
    app = Flask(__name__)
    CORS(app, origins="*", send_wildcard=True)
    store = load_demo_patients()

    @app.get("/fhir/metadata")
    def metadata() -> Response:
        return jsonify({
            "resourceType": "CapabilityStatement", "status": "active", "date": "2026-11-24", "kind": "instance",
            "fhirVersion": "4.0.1", "format": ["json"],
            "software": {"name": "bzd-taper-cds demo FHIR server"},
            "rest": [{"mode": "server", "resource": [
                {"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": "patient", "type": "reference"}, {"name": "code", "type": "token"}]}
                for kind in sorted(store)]}],
        })

    @app.get("/fhir/<kind>/<ident>")
    def read(kind: str, ident: str) -> Response | tuple[Response, int]:
        resource = store.get(kind, {}).get(ident)
        return jsonify(resource) if resource else _outcome(404, f"{kind}/{ident} not found")

    @app.route("/fhir/<kind>", methods=["GET"])
    @app.route("/fhir/<kind>/_search", methods=["POST"])
    def search(kind: str) -> Response:
        params = {**request.args.to_dict(), **request.form.to_dict()}
        found = [r for r in store.get(kind, {}).values() if _matches(r, params)]
        return jsonify({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                        "entry": [{"fullUrl": f"{request.host_url}fhir/{kind}/{r['id']}", "resource": r,
                                   "search": {"mode": "match"}} for r in found]})

    @app.after_request
    def fhir_json(response: Response) -> Response:
        if response.mimetype == "application/json":
            response.headers["Content-Type"] = "application/fhir+json"
        return response

    return app
