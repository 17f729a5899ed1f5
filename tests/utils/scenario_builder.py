"""Writes a clinical scenario folder (``fhir_fixtures/<group>/<name>/request.json`` + ``expected.json``) from a
short description in clinical terms, so that adding a case is data plus one call; the index
``fhir_fixtures/README.md`` is rewritten with it.

Python::

    from tests.utils.scenario_builder import write_scenario
    write_scenario({
        "name": "renal-gabapentin-crcl-40",
        "group": "gabapentinoid",
        "description": "Gabapentin 300 mg TID with CrCl 40 mL/min: label row >30–59, maximum 1400 mg/day.",
        "at": "2026-03-16",
        "patient": {"age": 70, "sex": "male"},
        "history": [{"drug": "diazepam 5 MG Oral Tablet", "tablets": 2, "per_day": 1, "authored": "2025-01-10"}],
        "observations": [{"loinc": "2160-0", "value": 1.22, "unit": "mg/dL", "date": "2026-03-01"},
                         {"loinc": "29463-7", "value": 70, "unit": "kg", "date": "2026-03-01"}],
        "drafts": [{"drug": "gabapentin 300 MG Oral Capsule", "tablets": 1, "per_day": 3}],
        "expected": {"cards": [{"type": "gabapentinoid-renal-dose", "indicator": "warning",
                                "summary_contains": ["1400 mg/day"]}]},
    })

Command line (one JSON object, or a list of them, per file): ``python -m tests.utils.scenario_builder spec.json``.

Specification members (all dates ISO; ``at`` is the drafts' ``authoredOn``, the evaluation time):

- ``name``: the folder's name, unique over all groups; ``group``: the group folder it goes in (one of
  ``tests.utils.scenarios.GROUPS``, listed in ``fhir_fixtures/README.md``) — needed for a new scenario; a scenario
  that exists already is rewritten where it is.

- ``patient``: ``age`` (whole years on ``at``) or ``birth_date``; ``sex``; ``race`` (``{"code", "display"}``, US Core).
- ``history`` (MedicationRequest), ``drafts``: ``drug`` (a product display of the terminology, any case) or
  ``rxcui``/``text``; ``tablets`` (units per dose) or ``mg`` (dose in mg); ``per_day`` (default 1); ``authored``;
  ``status``; ``id``; ``prior``; ``as_needed``; ``requester``; ``quantity`` + ``supply_days`` + ``refills``.
- ``dispenses``: ``drug``, ``handed_over``, ``quantity``, ``days``. ``statements``: ``drug``, ``start``, ``end``,
  ``status``, ``tablets``, ``per_day``.
- ``conditions``: ``code``, ``system`` (``snomed``/``icd10``), ``display``, ``status``, ``recorded``, ``text``.
- ``observations``: ``loinc``, ``date`` and one of ``value`` + ``unit``, ``answer`` (+ ``answer_display``;
  a SNOMED or LOINC answer code), ``text``.
- Any item that is already a FHIR resource (has ``resourceType``) is used as it is.
- ``fhir``: ``"stu3"`` writes every resource of the request — drafts and history — in its STU3 shape, as a legacy
  ``medication-prescribe`` client sends it (:func:`as_stu3`); use it with ``"hook": "medication-prescribe"``.
- ``expected``: written to expected.json with ``description`` and ``service``; see ``tests/scenarios`` for
  what it may assert.
"""

from __future__ import annotations

import copy
import json
import sys
import uuid
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from tests.utils.scenarios import FIXTURES, GROUPS, scenario_folders, write_index

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SYSTEMS = {"snomed": SNOMED, "icd10": ICD10, "loinc": LOINC}
SERVICES = {"order-sign": "bzd-taper-order-sign", "order-select": "bzd-taper-order-select",
            "medication-prescribe": "bzd-taper-medication-prescribe"}


@cache
def _products() -> dict[str, dict[str, Any]]:
    path = FIXTURES.parent / "cds_service" / "clinical" / "terminology" / "products.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["products"]
    by_name: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_name.setdefault(row["display"].lower(), row)
        by_name.setdefault(row["code"], row)
    return by_name


def _medication(item: dict[str, Any]) -> dict[str, Any]:
    if "drug" in item:
        row = _products().get(str(item["drug"]).lower())
        if row is None:
            raise ValueError(f"no product {item['drug']!r} in the terminology (use rxcui/text for others)")
        concept: dict[str, Any] = {"coding": [{"system": RXNORM, "code": row["code"], "display": row["display"]}]}
    elif "rxcui" in item:
        concept = {"coding": [{"system": RXNORM, "code": str(item["rxcui"]), "display": item.get("text", "")}]}
        if not item.get("text"):
            del concept["coding"][0]["display"]
    else:
        concept = {}
    if "text" in item:
        concept["text"] = item["text"]
    return concept


def _dosage(item: dict[str, Any]) -> list[dict[str, Any]]:
    if "tablets" not in item and "mg" not in item:
        return []
    quantity = ({"value": item["mg"], "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
                if "mg" in item else
                {"value": item["tablets"], "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tablet}"})
    line: dict[str, Any] = {
        "timing": {"repeat": {"frequency": item.get("per_day", 1), "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": quantity}],
    }
    if item.get("as_needed"):
        line["asNeededBoolean"] = True
    return [line]


def medication_request(item: dict[str, Any], *, patient_id: str, default_id: str, authored: str,
                       status: str) -> dict[str, Any]:
    if "resourceType" in item:
        return item
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": item.get("id", default_id),
        "status": item.get("status", status),
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": item.get("authored", authored),
        "medicationCodeableConcept": _medication(item),
    }
    if "requester" in item:
        resource["requester"] = {"reference": f"Practitioner/{item['requester']}"}
    if dosage := _dosage(item):
        resource["dosageInstruction"] = dosage
    if "prior" in item:
        resource["priorPrescription"] = {"reference": f"MedicationRequest/{item['prior']}"}
    if "quantity" in item:
        resource["dispenseRequest"] = {"quantity": {"value": item["quantity"]}}
        if "supply_days" in item:
            resource["dispenseRequest"]["expectedSupplyDuration"] = {
                "value": item["supply_days"], "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}
        if "refills" in item:
            resource["dispenseRequest"]["numberOfRepeatsAllowed"] = item["refills"]
    return resource


def _dispense(item: dict[str, Any], patient_id: str, index: int) -> dict[str, Any]:
    if "resourceType" in item:
        return item
    return {
        "resourceType": "MedicationDispense", "id": item.get("id", f"md{index}"), "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"}, "medicationCodeableConcept": _medication(item),
        "whenHandedOver": item["handed_over"], "quantity": {"value": item["quantity"]},
        "daysSupply": {"value": item["days"], "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
    }


def _statement(item: dict[str, Any], patient_id: str, index: int) -> dict[str, Any]:
    if "resourceType" in item:
        return item
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement", "id": item.get("id", f"ms{index}"),
        "status": item.get("status", "active"), "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": _medication(item),
        "effectivePeriod": {"start": item["start"], **({"end": item["end"]} if "end" in item else {})},
    }
    if dosage := _dosage(item):
        resource["dosage"] = dosage
    return resource


def _condition(item: dict[str, Any], patient_id: str, index: int) -> dict[str, Any]:
    if "resourceType" in item:
        return item
    system = SYSTEMS[item.get("system", "snomed")]
    resource: dict[str, Any] = {
        "resourceType": "Condition", "id": item.get("id", f"c{index}"),
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": item.get("status", "active")}]},
        "code": {"coding": [{"system": system, "code": item["code"], "display": item.get("display", item["code"])}]},
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if "text" in item:
        resource["code"]["text"] = item["text"]
    if "recorded" in item:
        resource["recordedDate"] = item["recorded"]
    return resource


def _observation(item: dict[str, Any], patient_id: str, index: int) -> dict[str, Any]:
    if "resourceType" in item:
        return item
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": item.get("id", f"o{index}"), "status": item.get("status", "final"),
        "code": {"coding": [{"system": LOINC, "code": item["loinc"]}]},
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": item["date"],
    }
    if "value" in item:
        resource["valueQuantity"] = {"value": item["value"], "unit": item["unit"],
                                     "system": "http://unitsofmeasure.org", "code": item["unit"]}
    elif "answer" in item:
        answer = str(item["answer"])
        system = LOINC if answer.startswith("LA") else SNOMED
        resource["valueCodeableConcept"] = {"coding": [{"system": system, "code": answer,
                                                        "display": item.get("answer_display", answer)}]}
    elif "text" in item:
        resource["valueString"] = item["text"]
    return resource


def _patient(spec: dict[str, Any], patient_id: str, at: date) -> dict[str, Any]:
    given = spec.get("patient", {})
    if "resourceType" in given:
        return dict(given)
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id, "gender": given.get("sex", "female")}
    if "birth_date" in given:
        resource["birthDate"] = given["birth_date"]
    elif "age" in given:
        resource["birthDate"] = f"{at.year - int(given['age']):04d}-01-01"  # birthday already passed on `at`
    if "race" in given:
        race = given["race"]
        resource["extension"] = [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
            {"url": "detailed", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": race["code"],
                                                "display": race["display"]}},
            {"url": "text", "valueString": race["display"]}]}]
    return resource


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]}


def build_request(spec: dict[str, Any]) -> dict[str, Any]:
    """The whole hook request a spec describes (every resource in the prefetch)."""
    patient_id = spec.get("patient_id", "p1")
    at = spec.get("at", "2026-03-16")
    hook = spec.get("hook", "order-sign")
    drafts = [medication_request(d, patient_id=patient_id, default_id=f"d{i + 1}", authored=at, status="draft")
              for i, d in enumerate(spec.get("drafts", []))]
    history = [medication_request(h, patient_id=patient_id, default_id=f"h{i + 1}", authored=at, status="active")
               for i, h in enumerate(spec.get("history", []))]
    draft_bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]}
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    context["medications" if hook == "medication-prescribe" else "draftOrders"] = draft_bundle
    if hook == "order-select":
        context["selections"] = spec.get("selections") or [f"MedicationRequest/{d['id']}" for d in drafts]
    request = {
        "hookInstance": _instance(spec["name"]),
        "hook": hook,
        "context": context,
        "prefetch": {
            "patient": _patient(spec, patient_id, date.fromisoformat(at[:10])),
            "medicationRequests": _searchset(history),
            "medicationDispenses": _searchset([_dispense(d, patient_id, i + 1)
                                               for i, d in enumerate(spec.get("dispenses", []))]),
            "medicationStatements": _searchset([_statement(s, patient_id, i + 1)
                                                for i, s in enumerate(spec.get("statements", []))]),
            "conditions": _searchset([_condition(c, patient_id, i + 1)
                                      for i, c in enumerate(spec.get("conditions", []))]),
            "observations": _searchset([_observation(o, patient_id, i + 1)
                                        for i, o in enumerate(spec.get("observations", []))]),
        },
    }
    return _stu3_request(request) if spec.get("fhir") == "stu3" else request


def as_stu3(resource: dict[str, Any]) -> dict[str, Any]:
    """An R4 resource in its STU3 shape (FHIR STU3, https://hl7.org/fhir/STU3/): the dose directly on the dosage
    (``doseQuantity``), ``requester.agent``, ``context`` for the encounter, a Condition's ``clinicalStatus`` and
    ``verificationStatus`` as codes and ``assertedDate``, a MedicationStatement's ``taken``."""
    stu3 = copy.deepcopy(resource)
    kind = stu3.get("resourceType")
    for key in ("dosageInstruction", "dosage"):
        for dosage in stu3.get(key, []):
            for member, value in (dosage.pop("doseAndRate", None) or [{}])[0].items():
                dosage[member] = value
    if kind == "MedicationRequest" and isinstance(stu3.get("requester"), dict):
        stu3["requester"] = {"agent": stu3["requester"]}
    if kind == "MedicationStatement":
        stu3["taken"] = "n" if stu3.get("status") == "not-taken" else "y"
        if stu3["taken"] == "n":
            stu3["status"] = "completed"
    if kind in ("MedicationRequest", "Condition", "Observation") and "encounter" in stu3:
        stu3["context"] = stu3.pop("encounter")
    if kind == "Condition":
        for key in ("clinicalStatus", "verificationStatus"):
            if isinstance(stu3.get(key), dict):
                stu3[key] = stu3[key]["coding"][0]["code"]
        if "recordedDate" in stu3:
            stu3["assertedDate"] = stu3.pop("recordedDate")
    return stu3


def _stu3_request(request: dict[str, Any]) -> dict[str, Any]:
    context = request["context"]
    for key in ("medications", "draftOrders"):
        if key in context:
            context[key]["entry"] = [{"resource": as_stu3(e["resource"])} for e in context[key]["entry"]]
    for key, value in request["prefetch"].items():
        if value.get("resourceType") == "Bundle":
            for entry in value["entry"]:
                entry["resource"] = as_stu3(entry["resource"])
        else:
            request["prefetch"][key] = as_stu3(value)
    return request


def _where(name: str, fixtures: Path, group: str | None) -> Path:
    """The folder of scenario ``name``: where it is already, else in ``group``."""
    for folder in scenario_folders(fixtures):
        if folder.name == name:
            if group is not None and folder.parent.name != group:
                raise ValueError(f"scenario {name!r} is already in group {folder.parent.name!r}, not {group!r}")
            return folder
    if group not in GROUPS:
        raise ValueError(f"scenario {name!r}: name its group, one of {sorted(GROUPS)} (fhir_fixtures/README.md)")
    return fixtures / group / name


def _write(folder: Path, request: dict[str, Any], expected: dict[str, Any], fixtures: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for filename, body in (("request.json", request), ("expected.json", expected)):
        (folder / filename).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_index(fixtures)
    return folder


def write_stu3_twin(source: str, fixtures: Path = FIXTURES) -> Path:
    """Writes ``fixtures/stu3/stu3-<source>``: the scenario ``source`` (an order-sign call) sent by a legacy client —
    the ``medication-prescribe`` hook with every resource, drafts and history, in its STU3 shape — expecting the
    same cards (docs/clinical-reference.md §7l)."""
    origin = _where(source, fixtures, None)
    request = json.loads((origin / "request.json").read_text(encoding="utf-8"))
    expected = json.loads((origin / "expected.json").read_text(encoding="utf-8"))
    if request["hook"] != "order-sign":
        raise ValueError(f"{source}: only order-sign scenarios have an STU3 twin")
    name = f"stu3-{source}"
    request["hook"] = "medication-prescribe"
    request["hookInstance"] = _instance(name)
    request["context"]["medications"] = request["context"].pop("draftOrders")
    expected["service"] = SERVICES["medication-prescribe"]
    expected["description"] = (f"STU3 twin of {source} (docs/clinical-reference.md §7l: the legacy hook's history "
                               f"is read in STU3 shapes too): {expected['description']}")
    return _write(_where(name, fixtures, "stu3"), _stu3_request(request), expected, fixtures)


def _instance(name: str) -> str:
    """A stable hookInstance per scenario (so rewriting a folder changes nothing that did not change)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:bzd-taper-cds:scenario:{name}"))


def build_expected(spec: dict[str, Any]) -> dict[str, Any]:
    expected = dict(spec.get("expected", {}))
    expected.setdefault("cards", [])
    expected.setdefault("absent", [])
    return {"description": spec["description"], "service": SERVICES[spec.get("hook", "order-sign")], **expected}


def write_scenario(spec: dict[str, Any], fixtures: Path = FIXTURES) -> Path:
    """Writes ``fixtures/<spec group>/<spec name>/request.json`` and ``expected.json`` (a scenario that exists is
    rewritten in its group) and rewrites the index ``fixtures/README.md``; returns the folder."""
    folder = _where(spec["name"], fixtures, spec.get("group"))
    return _write(folder, build_request(spec), build_expected(spec), fixtures)


def main(argv: list[str]) -> int:
    for path in argv:
        specs = json.loads(Path(path).read_text(encoding="utf-8"))
        for spec in specs if isinstance(specs, list) else [specs]:
            print(write_scenario(spec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
