"""Lenient parsing of what real clients send into fhir.resources R4B models.

Only resources whose codes a rule can use are parsed: the filter runs on the raw JSON first, because
model validation is the expensive step. A resource that cannot be repaired is skipped and said so;
it never fails the whole call.

Repairs, each observed in real clients (CDS Hooks 2.0):
- an object where R4 wants an array (the sandbox's ``category``; STU3's single ``category``) is wrapped;
- members R4 does not know (other FHIR versions, vendor additions) are dropped;
- a draft MedicationRequest without ``intent`` (the sandbox before a medication is chosen) gets ``order``;
- STU3/DSTU2 drafts (``doseQuantity`` directly on the dosage, ``requester.agent``, a DSTU2 MedicationOrder) are
  read with R4 names (stu3.py); for ``medication-prescribe`` the whole record is (evaluate.py).
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, TypeVar

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.element import Element
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from cds_service.clinical.record import OpioidHistory, PatientRecord
from cds_service.clinical.terminology import Terminology
from cds_service.fhir.client import items
from cds_service.fhir.stu3 import as_r4_medication_request

ModelT = TypeVar("ModelT", bound=Resource)

_MODELS: dict[str, type[Resource]] = {
    "Patient": Patient,
    "MedicationRequest": MedicationRequest,
    "MedicationDispense": MedicationDispense,
    "MedicationStatement": MedicationStatement,
    "Condition": Condition,
    "Observation": Observation,
}
_MAX_REPAIR_ROUNDS = 4
_MEDICATION_TYPES = ("MedicationRequest", "MedicationDispense", "MedicationStatement")


class ParseNotes:
    """Collects what was skipped, without patient data: resource type and the reason only."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def skip(self, resource_type: str, reason: str) -> None:
        self.skipped.append(f"one {resource_type} could not be read ({reason}) and was skipped")


class ElementMemo:
    """The complex elements of one record (a Dosage, a CodeableConcept, a Reference …) validated once per distinct
    content, so that a long history costs its distinct content rather than every element of every order: years of
    refills repeat the same medication coding, dosage and patient reference in each order.

    A resource then gets the model its own validation would have built — fhir.resources validates a nested element
    as ``Element.model_validate(value)``, which runs ``Element(**value)``, and takes an already validated model of
    that class as it is — shared with the other resources of the record that hold the same element (models are never
    modified after parsing)."""

    def __init__(self) -> None:
        self._models: dict[tuple[type[Element], str], Element | None] = {}

    def prevalidated(self, model: type[Resource], data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (not changed) with each element member replaced by its validated model; an element that does not
        validate stays as it is, for the resource's own validation to report."""
        members = _element_members(model)
        replaced: dict[str, Any] | None = None
        for key, value in data.items():
            member = members.get(key)
            if member is None:
                continue
            element, repeats = member
            if repeats and isinstance(value, list) and all(isinstance(item, dict) for item in value):
                validated: Any = [self._element(element, item) for item in value]
            elif not repeats and isinstance(value, dict):
                validated = self._element(element, value)
            else:
                continue
            if replaced is None:
                replaced = dict(data)
            replaced[key] = validated
        return data if replaced is None else replaced

    def _element(self, element: type[Element], value: dict[str, Any]) -> Element | dict[str, Any]:
        try:
            # the JSON text tells apart every value that validates differently (1 and 1.0, "1" and 1)
            key = (element, json.dumps(value))
        except (TypeError, ValueError):
            return value
        if key not in self._models:
            try:
                self._models[key] = element(**value)  # as model_validate builds it, without its second pass
            except ValidationError:
                self._models[key] = None
        model = self._models[key]
        return value if model is None else model


@cache
def _element_members(model: type[Resource]) -> dict[str, tuple[type[Element], bool]]:
    """JSON member → (element model, whether it is a list) for each member of ``model`` holding a complex element
    (not a contained resource, whose class depends on its content, nor a primitive's extension)."""
    members = {}
    for name, field in model.model_fields.items():
        kind: Any = field.annotation
        arguments = typing.get_args(kind)
        if type(None) in arguments:
            kind = next(argument for argument in arguments if argument is not type(None))
        repeats = typing.get_origin(kind) is list
        if repeats:
            kind = typing.get_args(kind)[0]
        element = kind.get_model_klass() if hasattr(kind, "get_model_klass") else None
        if isinstance(element, type) and issubclass(element, Element):
            members[field.alias or name] = (element, repeats)
    return members


def parse_lenient(model: type[ModelT], data: dict[str, Any], notes: ParseNotes,
                  memo: ElementMemo | None = None) -> ModelT | None:
    """Validate ``data`` as ``model``, repairing the known client quirks; ``None`` (and a note) if impossible.

    With ``memo``, the elements the record repeats are validated once (:class:`ElementMemo`); a resource that does
    not validate that way takes the path below from its original data, so its repairs and notes are the same."""
    try:
        return _parse_lenient(model, data, notes, memo)
    except RecursionError:  # a resource nested hundreds of levels deep (the copy before a repair recurses)
        notes.skip(model.__name__, "nested too deeply")
        return None


def _parse_lenient(model: type[ModelT], data: dict[str, Any], notes: ParseNotes,
                   memo: ElementMemo | None) -> ModelT | None:
    if memo is not None:
        try:
            # the constructor is what model_validate runs (fhir.resources models define __init__), and then
            # model_validate repeats the model-level checks: a fifth of the cost of a resource of a long history
            return model(**memo.prevalidated(model, data))
        except ValidationError:
            pass
    candidate = data  # validation does not change its input; a copy is made only before the first repair
    for round_number in range(_MAX_REPAIR_ROUNDS):
        try:
            return model.model_validate(candidate)
        except ValidationError as exc:
            if round_number == 0:
                candidate = copy.deepcopy(data)
            if not _repair(candidate, exc):
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                notes.skip(model.__name__, f"{first['type']} at {where}")
                return None
    notes.skip(model.__name__, "too many structural problems")
    return None


def _repair(data: dict[str, Any], exc: ValidationError) -> bool:
    repaired = True
    for error in exc.errors():
        location = list(error["loc"])
        parent = _walk(data, location[:-1])
        last = location[-1] if location else None
        if parent is None or last is None:
            return False
        if error["type"] == "extra_forbidden":
            parent.pop(last, None)
        elif error["type"] == "list_type" and isinstance(error.get("input"), dict):
            parent[last] = [error["input"]]
        elif error["type"].endswith("missing") and location == ["intent"] \
                and data.get("resourceType") == "MedicationRequest":
            data["intent"] = "order"
        else:
            repaired = False
    return repaired


def _walk(data: Any, path: list[Any]) -> Any:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _code_concepts(concept: Any, concepts_of: Callable[[str | None, str | None], frozenset[str]]) -> frozenset[str]:
    """The concepts of the codings of a raw CodeableConcept (or list of them), tolerating odd shapes; the codings
    are read where they are, without a coding object for each (every resource of the record passes here)."""
    found: frozenset[str] = frozenset()
    for item in concept if isinstance(concept, list) else (concept,):
        if isinstance(item, dict):
            for coding in items(item.get("coding")):
                if isinstance(coding, dict):
                    found |= concepts_of(_text(coding.get("system")), _text(coding.get("code")))
    return found


def medication_concepts(resource: dict[str, Any]) -> list[Any]:
    """The medication CodeableConcepts of a raw medication resource, including a contained Medication."""
    concepts: list[Any] = []
    if isinstance(resource.get("medicationCodeableConcept"), dict):
        concepts.append(resource["medicationCodeableConcept"])
    reference = resource.get("medicationReference")
    if isinstance(reference, dict):
        target = reference.get("reference")
        for contained in items(resource.get("contained")):
            if isinstance(contained, dict) and contained.get("resourceType") == "Medication" \
                    and f"#{contained.get('id')}" == target and isinstance(contained.get("code"), dict):
                concepts.append(contained["code"])
        if isinstance(reference.get("display"), str):
            concepts.append({"text": reference["display"]})
    return concepts


def _names_medication(resource: dict[str, Any], is_code: Callable[[str | None, str | None], bool],
                      mentions: Callable[[str], bool]) -> bool:
    """Whether a coding of the raw medication resource is one of ``is_code``'s, or a display or text ``mentions``
    one."""
    for concept in medication_concepts(resource):
        for coding in items(concept.get("coding")):
            if isinstance(coding, dict):
                display = coding.get("display")
                if is_code(_text(coding.get("system")), _text(coding.get("code"))) \
                        or (display and isinstance(display, str) and mentions(display)):
                    return True
        text = concept.get("text")
        if isinstance(text, str) and mentions(text):
            return True
    return False


def is_relevant_medication(resource: dict[str, Any], terminology: Terminology) -> bool:
    return _names_medication(resource, terminology.is_relevant_medication_code,
                             terminology.mentions_relevant_ingredient)


OBSERVATIONS_PER_CONCEPT = 2
"""Rules read the latest result of each observation concept (renal function, weight, pregnancy status or
test); two per concept leave room for a result without a value, and save parsing long lab histories."""


def _effective(resource: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "issued"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    period = resource.get("effectivePeriod")
    return str(period.get("start", "")) if isinstance(period, dict) else ""


def _latest_observations_only(resources: list[dict[str, Any]], concepts: dict[int, frozenset[str]]
                              ) -> list[dict[str, Any]]:
    """``resources`` less the observations beyond the newest :data:`OBSERVATIONS_PER_CONCEPT` of each concept
    (``concepts``: the concepts of the observation at each index)."""
    kept = set(range(len(resources))) - concepts.keys()
    by_concept: dict[str, list[tuple[str, int]]] = {}
    for index, found in concepts.items():
        for concept in found:
            by_concept.setdefault(concept, []).append((_effective(resources[index]), index))
    for entries in by_concept.values():
        kept.update(index for _, index in sorted(entries, reverse=True)[:OBSERVATIONS_PER_CONCEPT])
    return [resource for index, resource in enumerate(resources) if index in kept]


def relevant_resources(raw: dict[str, list[dict[str, Any]]], terminology: Terminology) -> list[dict[str, Any]]:
    """The raw resources a rule can use, each once: the record the rules see, before any parsing."""
    seen: set[tuple[str, str]] = set()
    relevant: list[dict[str, Any]] = []
    observation_concepts: dict[int, frozenset[str]] = {}
    for resources in raw.values():
        for resource in resources:
            kind = resource.get("resourceType")
            concepts: frozenset[str] = frozenset()
            if kind in _MEDICATION_TYPES:
                if not is_relevant_medication(resource, terminology):
                    continue
            elif kind == "Condition":
                if not _code_concepts(resource.get("code"), terminology.condition_code_concepts):
                    continue
            elif kind == "Observation":
                concepts = _code_concepts(resource.get("code"), terminology.observation_code_concepts)
                if not concepts:
                    continue
            elif kind != "Patient":
                continue
            identity = (kind, str(resource.get("id")))
            if resource.get("id") is not None and identity in seen:
                continue  # the same resource reached us twice (e.g. prefetch page overlap)
            seen.add(identity)
            if concepts:
                observation_concepts[len(relevant)] = concepts
            relevant.append(resource)
    return _latest_observations_only(relevant, observation_concepts)


def build_patient_record(
    raw: dict[str, list[dict[str, Any]]],
    draft_orders: Iterable[dict[str, Any]],
    terminology: Terminology,
    incomplete: Iterable[str] = (),
) -> PatientRecord:
    """Parse the resources the rules can use into a :class:`PatientRecord`."""
    return parse_patient_record(relevant_resources(raw, terminology), draft_orders, incomplete, terminology)


def is_opioid_only(resource: dict[str, Any], terminology: Terminology) -> bool:
    """A relevant medication resource that names no benzodiazepine or adjunct: it names an opioid or naloxone."""
    return not _names_medication(resource, terminology.is_taper_medication_code,
                                 terminology.mentions_taper_medication)


def parse_patient_record(
    relevant: Iterable[dict[str, Any]],
    draft_orders: Iterable[dict[str, Any]],
    incomplete: Iterable[str] = (),
    terminology: Terminology | None = None,
) -> PatientRecord:
    """Parse :func:`relevant_resources` and the draft orders into a :class:`PatientRecord`.

    With ``terminology``, opioid and naloxone history is parsed only when a rule reads it."""
    notes = ParseNotes()
    memo = ElementMemo()
    parsed: dict[str, list[Any]] = {name: [] for name in _MODELS}
    observations = []
    opioids: list[dict[str, Any]] = []
    for resource in relevant:
        kind = resource["resourceType"]
        if kind == "Observation":
            observations.append(resource)
            continue
        if terminology is not None and kind in _MEDICATION_TYPES and is_opioid_only(resource, terminology):
            opioids.append(resource)
            continue
        model = parse_lenient(_MODELS[kind], resource, notes, memo)
        if model is not None:
            parsed[kind].append(model)
    drafts = []
    draft_json: dict[str, dict[str, Any]] = {}
    for resource in draft_orders:
        # A draft with no medication yet (the sandbox before one is chosen) has nothing to evaluate.
        if resource.get("resourceType") not in ("MedicationRequest", "MedicationOrder") \
                or not any(key.startswith("medication") for key in resource):
            continue
        r4 = as_r4_medication_request(resource)
        model = parse_lenient(MedicationRequest, r4, notes, memo)
        if model is not None:
            drafts.append(model)
            if model.id:
                draft_json[model.id] = r4
    return PatientRecord(
        patient=parsed["Patient"][0] if parsed["Patient"] else None,
        medication_requests=tuple(parsed["MedicationRequest"]),
        medication_dispenses=tuple(parsed["MedicationDispense"]),
        medication_statements=tuple(parsed["MedicationStatement"]),
        conditions=tuple(parsed["Condition"]),
        draft_orders=tuple(drafts),
        draft_json=draft_json,
        notes=tuple(incomplete) + tuple(notes.skipped),
        read_observations=lambda: _parse_observations(observations, memo),
        read_opioid_history=lambda: _parse_opioid_history(opioids, memo),
    )


def _parse_opioid_history(resources: list[dict[str, Any]], memo: ElementMemo) -> OpioidHistory:
    notes = ParseNotes()
    parsed: dict[str, list[Any]] = {kind: [] for kind in _MEDICATION_TYPES}
    for resource in resources:
        model = parse_lenient(_MODELS[resource["resourceType"]], resource, notes, memo)
        if model is not None:
            parsed[resource["resourceType"]].append(model)
    return OpioidHistory(tuple(parsed["MedicationRequest"]), tuple(parsed["MedicationDispense"]),
                         tuple(parsed["MedicationStatement"]), tuple(notes.skipped))


def _parse_observations(resources: list[dict[str, Any]], memo: ElementMemo
                        ) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    notes = ParseNotes()
    parsed = (parse_lenient(Observation, resource, notes, memo) for resource in resources)
    return tuple(model for model in parsed if model is not None), tuple(notes.skipped)
