"""Legacy FHIR shapes (STU3, DSTU2) read with R4 names, for the legacy ``medication-prescribe`` hook.

docs/clinical-reference.md §7l: for ``medication-prescribe`` the history is read with the STU3 shapes, not only
the drafts — a taper in STU3 history is a taper. FHIR STU3 (https://hl7.org/fhir/STU3/) and DSTU2
(https://hl7.org/fhir/DSTU2/) differ from R4 where the rules read:

- Dosage: the dose and rate sit directly on the dosage (``doseQuantity``, ``doseRange``, ``rate*``; DSTU2
  MedicationStatement ``quantityQuantity``/``quantityRange``), where R4 has ``doseAndRate``;
- MedicationRequest: ``requester.agent`` (the author; ``onBehalfOf`` is the organisation), ``context`` for the
  encounter; DSTU2 MedicationOrder: ``prescriber``, ``dateWritten``, ``patient``;
- MedicationStatement: ``taken`` (``n`` = not taken); DSTU2 ``wasNotTaken``;
- MedicationDispense: ``notDone`` (not dispensed);
- Condition: ``clinicalStatus`` and ``verificationStatus`` are codes, not CodeableConcepts; ``assertedDate``
  (DSTU2 ``dateRecorded``) for R4 ``recordedDate``; ``context``;
- Observation: ``context`` for the encounter;
- DSTU2 resources name the patient ``patient``, R4 ``subject``.

Each function returns the resource unchanged when it has nothing to convert (an R4 resource stays as it is) and
never changes its input: members it rebuilds are new objects. Anything else R4 does not know is dropped later by
the lenient parser (parse.py).
"""

from __future__ import annotations

from typing import Any

from cds_service.fhir.hook_body import RawResource

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_DOSE_MEMBERS = ("doseQuantity", "doseRange", "doseSimpleQuantity", "rateRatio", "rateRange", "rateQuantity")
_DSTU2_STATEMENT_DOSE = {"quantityQuantity": "doseQuantity", "quantityRange": "doseRange"}


def as_r4(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` (STU3, DSTU2 or R4) with the R4 names the rules read."""
    kind = resource.get("resourceType")
    if kind in ("MedicationRequest", "MedicationOrder"):
        return as_r4_medication_request(resource)
    if kind == "MedicationStatement":
        return _statement(resource)
    if kind == "MedicationDispense":
        return _dispense(resource)
    if kind == "Condition":
        return _condition(resource)
    if kind == "Observation":
        return _renamed(resource, {"context": "encounter"})
    return resource


def resources_as_r4(resources: dict[str, list[RawResource]]) -> dict[str, list[RawResource]]:
    """Every resource of a record (per prefetch key) with R4 names; one already read into the record's types is R4
    already (cds_service/fhir/hook_body.py reads none for the legacy hook)."""
    return {key: [as_r4(resource) if isinstance(resource, dict) else resource for resource in items]
            for key, items in resources.items()}


def as_r4_medication_request(resource: dict[str, Any]) -> dict[str, Any]:
    """An STU3 MedicationRequest or a DSTU2 MedicationOrder with R4 names (an R4 one as it is)."""
    converted = resource
    if converted.get("resourceType") == "MedicationOrder":
        converted = _renamed(dict(converted, resourceType="MedicationRequest"),
                             {"patient": "subject", "dateWritten": "authoredOn", "prescriber": "requester"})
        converted.setdefault("intent", "order")
    requester = converted.get("requester")
    if isinstance(requester, dict) and isinstance(requester.get("agent"), dict):
        converted = dict(converted, requester=requester["agent"])
    if isinstance(converted.get("category"), dict):  # STU3: one category; R4: a list
        converted = dict(converted, category=[converted["category"]])
    converted = _renamed(converted, {"context": "encounter"})
    dosages = converted.get("dosageInstruction")
    if isinstance(dosages, list) and (changed := _dosages(dosages)) != dosages:
        converted = dict(converted, dosageInstruction=changed)
    return converted


def _statement(resource: dict[str, Any]) -> dict[str, Any]:
    converted = _renamed(resource, {"patient": "subject"})
    not_taken = converted.get("taken") == "n" or converted.get("wasNotTaken") is True
    if not_taken or "taken" in converted or "wasNotTaken" in converted:
        converted = {k: v for k, v in converted.items() if k not in ("taken", "wasNotTaken")}
        if not_taken:
            converted["status"] = "not-taken"
    dosages = converted.get("dosage")
    if isinstance(dosages, list) and (changed := _dosages(dosages, _DSTU2_STATEMENT_DOSE)) != dosages:
        converted = dict(converted, dosage=changed)
    return converted


def _dispense(resource: dict[str, Any]) -> dict[str, Any]:
    converted = _renamed(resource, {"patient": "subject"})
    if "notDone" in converted:
        not_done = converted.get("notDone") is True
        converted = {k: v for k, v in converted.items() if k != "notDone"}
        if not_done:
            converted["status"] = "declined"
    dosages = converted.get("dosageInstruction")
    if isinstance(dosages, list) and (changed := _dosages(dosages)) != dosages:
        converted = dict(converted, dosageInstruction=changed)
    return converted


def _condition(resource: dict[str, Any]) -> dict[str, Any]:
    converted = _renamed(resource, {"patient": "subject", "context": "encounter", "assertedDate": "recordedDate",
                                    "dateRecorded": "recordedDate"})
    for key, system in (("clinicalStatus", CONDITION_CLINICAL), ("verificationStatus", CONDITION_VERIFICATION)):
        if isinstance(converted.get(key), str):
            if converted is resource:
                converted = dict(resource)
            converted[key] = {"coding": [{"system": system, "code": converted[key]}]}
    return converted


def _renamed(resource: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``resource`` with each old member name present renamed (kept as it is when the new name is already there)."""
    if not any(old in resource for old in names):
        return resource
    converted = dict(resource)
    for old, new in names.items():
        if old in converted:
            value = converted.pop(old)
            converted.setdefault(new, value)
    return converted


def _dosages(dosages: list[Any], renames: dict[str, str] | None = None) -> list[Any]:
    return [_dosage(dosage, renames or {}) if isinstance(dosage, dict) else dosage for dosage in dosages]


def _dosage(dosage: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """The dose and rate moved into ``doseAndRate``; DSTU2's boolean ``asNeeded`` named ``asNeededBoolean``."""
    if not any(key in dosage for key in (*_DOSE_MEMBERS, *renames, "asNeeded")):
        return dosage
    dosage = dict(dosage)
    for old, new in renames.items():
        if old in dosage:
            dosage.setdefault(new, dosage.pop(old))
    moved = {("doseQuantity" if key == "doseSimpleQuantity" else key): dosage.pop(key)
             for key in _DOSE_MEMBERS if key in dosage}
    if moved and "doseAndRate" not in dosage:
        dosage["doseAndRate"] = [moved]
    if "asNeededBoolean" not in dosage and isinstance(dosage.get("asNeeded"), bool):
        dosage["asNeededBoolean"] = dosage.pop("asNeeded")
    return dosage


_STU3_DISPENSE_REQUEST = ("validityPeriod", "numberOfRepeatsAllowed", "quantity", "expectedSupplyDuration",
                          "performer")
"""The members of an STU3 MedicationRequest.dispenseRequest; R4 adds initialFill and dispenseInterval."""
_R4_ONLY_REQUEST = ("courseOfTherapyType", "doNotPerform", "reportedBoolean", "reportedReference", "performerType",
                    "instantiatesCanonical", "instantiatesUri", "insurance", "statusReason")


def as_stu3(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource a suggestion creates or updates, in the STU3 shape a legacy ``medication-prescribe`` client reads
    (docs/clinical-reference.md §7l): a MedicationRequest with its dose directly on the dosage, the requester as
    ``requester.agent`` and one category; an R4 ServiceRequest as the STU3 ProcedureRequest it replaced. Without
    this an STU3 client would drop the dose of a one-click order it cannot read."""
    kind = resource.get("resourceType")
    if kind == "ServiceRequest":
        converted = dict(resource, resourceType="ProcedureRequest")
        if isinstance(converted.get("requester"), dict):
            converted["requester"] = {"agent": converted["requester"]}
        return _renamed(converted, {"encounter": "context"})
    if kind != "MedicationRequest":
        return resource
    converted = {key: value for key, value in resource.items() if key not in _R4_ONLY_REQUEST}
    if isinstance(converted.get("requester"), dict) and "agent" not in converted["requester"]:
        converted["requester"] = {"agent": converted["requester"]}
    if isinstance(converted.get("category"), list):
        if converted["category"]:
            converted["category"] = converted["category"][0]
        else:
            converted.pop("category")
    converted = _renamed(converted, {"encounter": "context"})
    if isinstance(converted.get("dispenseRequest"), dict):
        converted["dispenseRequest"] = {key: value for key, value in converted["dispenseRequest"].items()
                                        if key in _STU3_DISPENSE_REQUEST}
    if isinstance(converted.get("dosageInstruction"), list):
        converted["dosageInstruction"] = [_stu3_dosage(d) if isinstance(d, dict) else d
                                          for d in converted["dosageInstruction"]]
    return converted


def _stu3_dosage(dosage: dict[str, Any]) -> dict[str, Any]:
    rates = dosage.get("doseAndRate")
    if not isinstance(rates, list):
        return dosage
    converted = {key: value for key, value in dosage.items() if key != "doseAndRate"}
    for rate in rates[:1]:  # STU3 holds one dose and one rate
        if isinstance(rate, dict):
            converted.update({key: value for key, value in rate.items() if key != "type"})
    return converted
