"""A small open FHIR R4 endpoint serving the demo patients, for trying the service with a CDS client.

Demo and test tool only — not part of the service, no authentication, read-only, in memory. It serves
``GET /fhir/metadata``, reads (``GET /fhir/{type}/{id}``), searches by patient (``GET /fhir/{type}?patient=``
and ``POST /fhir/{type}/_search``; Observation also by ``code=system|code,...``), with CORS for browsers.
Run: ``gunicorn -b 127.0.0.1:8081 'demo.fhir_server:create_app()'``.

Dates roll. Each demo patient is the record of one ``fhir_fixtures/`` scenario, whose "now" (its anchor) is
the ``authoredOn`` of the scenario's draft order. Every date of the record is served shifted by the days
between the anchor and today — birth dates too, so ages stay as the scenario says — as the CDC opioid CDS
test data does. A CDS client that stamps its draft with today's date (the CDS Hooks sandbox does) therefore
meets the scenario as it was written, on any day.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_cors import CORS

ROOT = Path(__file__).resolve().parents[1]
RESOURCE_KEYS = ("medicationRequests", "medicationDispenses", "medicationStatements", "conditions", "observations")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?$")


def today_utc() -> date:
    return datetime.now(UTC).date()


def shift_dates(value: Any, days: int) -> Any:
    """A copy of ``value`` with every FHIR date, dateTime and instant moved by ``days`` (times kept)."""
    if isinstance(value, dict):
        return {key: shift_dates(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_dates(item, days) for item in value]
    if isinstance(value, str) and (match := _DATE.match(value)):
        return (date.fromisoformat(match.group(1)) + timedelta(days=days)).isoformat() + (match.group(2) or "")
    return value


@dataclass(frozen=True)
class DemoPatient:
    id: str
    given: str
    family: str
    about: str
    order: str
    """What to order for this patient, in words (README, sandbox)."""
    fixture: str
    anchor: date
    """The scenario's "now": the authoredOn of its draft order."""
    record: dict[str, Any]
    """The prefetch of the scenario, re-identified for this patient, at the anchor's dates."""
    drafts: tuple[dict[str, Any], ...]
    expected: dict[str, Any]
    """The scenario's expected.json (cards, absent card types)."""

    def days_to(self, day: date) -> int:
        return (day - self.anchor).days

    def resources(self) -> list[dict[str, Any]]:
        found = [self.record["patient"]]
        for key in RESOURCE_KEYS:
            found += [entry["resource"] for entry in self.record[key].get("entry", [])]
        return found


def _reidentify(demo: dict[str, str], request_body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The scenario's prefetch and drafts with this demo patient's ids (references follow)."""
    prefetch = request_body["prefetch"]
    drafts = [entry["resource"] for entry in request_body["context"]["draftOrders"]["entry"]]
    text = json.dumps({"prefetch": prefetch, "drafts": drafts})
    text = text.replace(f'"Patient/{prefetch["patient"]["id"]}"', f'"Patient/{demo["id"]}"')
    for key in RESOURCE_KEYS:
        for entry in prefetch[key].get("entry", []):
            kind, old = entry["resource"]["resourceType"], entry["resource"].get("id")
            if old:
                text = text.replace(f'"{kind}/{old}"', f'"{kind}/{demo["id"]}-{old}"')
    renamed = json.loads(text)
    record = renamed["prefetch"]
    summary = f'<div xmlns="http://www.w3.org/1999/xhtml">{demo["about"]}</div>'
    record["patient"] = {**record["patient"], "id": demo["id"],
                         "name": [{"given": [demo["given"]], "family": demo["family"]}],
                         "text": {"status": "generated", "div": summary}}
    for key in RESOURCE_KEYS:
        for number, entry in enumerate(record[key].get("entry", [])):
            resource = entry["resource"]
            resource["id"] = f'{demo["id"]}-{resource.get("id", f"{key}-{number}")}'
            resource.setdefault("subject", {"reference": f'Patient/{demo["id"]}'})
            entry["fullUrl"] = f'{resource["resourceType"]}/{resource["id"]}'
    return record, renamed["drafts"]


@cache
def demo_patients(fixtures: Path = ROOT / "fhir_fixtures") -> dict[str, DemoPatient]:
    """Every demo patient of demo/patients.json, by id."""
    spec = json.loads((Path(__file__).parent / "patients.json").read_text(encoding="utf-8"))
    # scenarios sit in group folders (fhir_fixtures/<group>/<name>/) and are named by their folder alone
    folders = {path.parent.name: path.parent for path in fixtures.rglob("expected.json")}
    patients: dict[str, DemoPatient] = {}
    for demo in spec["patients"]:
        folder = folders[demo["fixture"]]
        body = json.loads((folder / "request.json").read_text(encoding="utf-8"))
        record, drafts = _reidentify(demo, body)
        anchor = min(date.fromisoformat(d["authoredOn"][:10]) for d in drafts if d.get("authoredOn"))
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
        patients[demo["id"]] = DemoPatient(demo["id"], demo["given"], demo["family"], demo["about"], demo["order"],
                                           demo["fixture"], anchor, record, tuple(drafts), expected)
    return patients


def hook_request(patient_id: str, fhir_server: str | None, on: date, *, with_prefetch: bool = False,
                 hook: str = "order-sign") -> dict[str, Any]:
    """The demo patient's scenario as an order-sign call made on ``on``: its draft orders, dated that day;
    with ``with_prefetch`` also the record (else the service reads it from ``fhir_server``)."""
    patient = demo_patients()[patient_id]
    days = patient.days_to(on)
    body: dict[str, Any] = {
        "hook": hook, "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": patient.id,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": shift_dates(d, days)} for d in patient.drafts]}},
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
    if with_prefetch:
        body["prefetch"] = shift_dates(patient.record, days)
    return body


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


def create_app(today: Callable[[], date] = today_utc) -> Flask:
    """``today`` is the day the records are shifted to (asked at every request, so a server left running
    keeps rolling)."""
    app = Flask(__name__)
    CORS(app, origins="*", send_wildcard=True)
    owner: dict[tuple[str, str], tuple[DemoPatient, dict[str, Any]]] = {}
    for patient in demo_patients().values():
        for resource in patient.resources():
            owner[(resource["resourceType"], resource["id"])] = (patient, resource)

    def served(patient: DemoPatient, resource: dict[str, Any]) -> dict[str, Any]:
        return shift_dates(resource, patient.days_to(today()))  # type: ignore[no-any-return]

    @app.get("/fhir/metadata")
    def metadata() -> Response:
        kinds = sorted({kind for kind, _ in owner})
        return jsonify({
            "resourceType": "CapabilityStatement", "status": "active", "date": today().isoformat(),
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
            "software": {"name": "bzd-taper-cds demo FHIR server"},
            "rest": [{"mode": "server", "resource": [
                {"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": "patient", "type": "reference"}, {"name": "code", "type": "token"}]}
                for kind in kinds]}],
        })

    @app.get("/fhir/<kind>/<ident>")
    def read(kind: str, ident: str) -> Response | tuple[Response, int]:
        found = owner.get((kind, ident))
        return jsonify(served(*found)) if found else _outcome(404, f"{kind}/{ident} not found")

    @app.route("/fhir/<kind>", methods=["GET"])
    @app.route("/fhir/<kind>/_search", methods=["POST"])
    def search(kind: str) -> Response:
        params = {**request.args.to_dict(), **request.form.to_dict()}
        found = [served(patient, resource) for (k, _), (patient, resource) in owner.items()
                 if k == kind and _matches(resource, params)]
        return jsonify({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                        "entry": [{"fullUrl": f"{request.host_url}fhir/{kind}/{r['id']}", "resource": r,
                                   "search": {"mode": "match"}} for r in found]})

    @app.after_request
    def fhir_json(response: Response) -> Response:
        if response.mimetype == "application/json":
            response.headers["Content-Type"] = "application/fhir+json"
        return response

    return app
