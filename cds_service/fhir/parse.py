"""Reading what real clients send into the record the rules read (cds_service/clinical/resources.py).

Only resources whose codes a rule can use are read: the filter runs on the raw JSON first. Each is then validated
against the elements the rules read (msgspec, a few microseconds); a resource those types refuse takes the
complete FHIR models of ``fhir.resources`` (the slow path, over a hundred microseconds), which repair the known
client quirks, and is copied into the same types once valid. A resource that cannot be repaired is skipped and said
so; it never fails the whole call. (A long benzodiazepine history may arrive already read into those types, on
decoding: cds_service/fhir/hook_body.py.)

Repairs, each observed in real clients (CDS Hooks 2.0):
- an object where R4 wants an array (the sandbox's ``category``; STU3's single ``category``) is wrapped;
- members R4 does not know (other FHIR versions, vendor additions) are dropped;
- a draft MedicationRequest without ``intent`` (the sandbox before a medication is chosen) gets ``order``;
- STU3/DSTU2 drafts (``doseQuantity`` directly on the dosage, ``requester.agent``, a DSTU2 MedicationOrder) are
  read with R4 names (stu3.py); for ``medication-prescribe`` the whole record is (evaluate.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any, Literal, NamedTuple, TypeVar

import msgspec
from fhir.resources.R4B import condition, medicationdispense, medicationrequest, medicationstatement, observation
from fhir.resources.R4B import patient as patient_resource
from fhir.resources.R4B.resource import Resource as FullResource
from msgspec import inspect
from pydantic import ValidationError

from cds_service.clinical.record import OpioidHistory, PatientRecord
from cds_service.clinical.resources import (
    Condition,
    MedicationDispense,
    MedicationRequest,
    MedicationResource,
    MedicationStatement,
    Observation,
    Patient,
    Resource,
)
from cds_service.clinical.terminology import Terminology
from cds_service.fhir.client import items
from cds_service.fhir.hook_body import RawResource
from cds_service.fhir.stu3 import as_r4_medication_request

ResourceT = TypeVar("ResourceT", bound=Resource)

_MODELS: dict[str, type[Resource]] = {
    "Patient": Patient,
    "MedicationRequest": MedicationRequest,
    "MedicationDispense": MedicationDispense,
    "MedicationStatement": MedicationStatement,
    "Condition": Condition,
    "Observation": Observation,
}
_FULL_MODELS: dict[type[Resource], type[FullResource]] = {
    Patient: patient_resource.Patient,
    MedicationRequest: medicationrequest.MedicationRequest,
    MedicationDispense: medicationdispense.MedicationDispense,
    MedicationStatement: medicationstatement.MedicationStatement,
    Condition: condition.Condition,
    Observation: observation.Observation,
}
"""The complete FHIR model of each resource the rules read: the slow path, for what the fast one refuses."""


def _build_type_info() -> None:
    """Have msgspec build each model's validation info now, at import, before gunicorn forks its workers.

    msgspec builds it on a type's first use; two request threads of a fresh worker doing that at once crashed the
    worker (SIGSEGV: one thread still evaluating the annotations while another converted — seen under gunicorn's
    threads in ``tests/feedback/test_card_log.py``). Built here, in one thread, no request ever builds it."""
    for kind in _MODELS.values():
        try:
            msgspec.convert({}, kind)
        except msgspec.ValidationError:
            pass


_build_type_info()
_MAX_REPAIR_ROUNDS = 4
_MEDICATION_TYPES = ("MedicationRequest", "MedicationDispense", "MedicationStatement")


class ParseNotes:
    """Collects what was skipped, without patient data: resource type and the reason only."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def skip(self, resource_type: str, reason: str) -> None:
        self.skipped.append(f"one {resource_type} could not be read ({reason}) and was skipped")


def parse_lenient(kind: type[ResourceT], data: dict[str, Any], notes: ParseNotes) -> ResourceT | None:
    """``data`` read as ``kind``, repairing the known client quirks; ``None`` (and a note) if impossible.

    The fast path validates only what the rules read (:mod:`cds_service.clinical.resources`); whatever it refuses
    takes :func:`parse_fully`, so a malformed record is repaired, or skipped with its note, as the complete FHIR
    model decides."""
    try:
        return msgspec.convert(data, kind)
    except (msgspec.ValidationError, RecursionError):
        pass
    full = parse_fully(_FULL_MODELS[kind], data, notes)
    if full is None:
        return None
    try:
        return copied(kind, full)
    except (ValueError, TypeError):  # a value the complete model accepts and no rule could read
        notes.skip(kind.__name__, "value_error")
        return None


def parse_fully(model: type[FullResource], data: dict[str, Any], notes: ParseNotes) -> FullResource | None:
    """Validate ``data`` as the complete FHIR ``model``, repairing the known client quirks; ``None`` (and a note)
    if impossible."""
    try:
        return _parse_fully(model, data, notes)
    except RecursionError:  # a resource nested hundreds of levels deep (the copy before a repair recurses)
        notes.skip(model.__name__, "nested too deeply")
        return None


def _parse_fully(model: type[FullResource], data: dict[str, Any], notes: ParseNotes) -> FullResource | None:
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


def copied(kind: type[ResourceT], model: FullResource) -> ResourceT:
    """A resource the complete FHIR model validated, as ``kind``: copied without checking again (that model has
    checked the types; it does not hold codes to their value sets, nor ids to 64 characters)."""
    value = _copy(model.model_dump(by_alias=True, exclude_none=True), _type_info(kind))
    assert isinstance(value, kind)
    return value


@cache
def _type_info(kind: type[Resource]) -> inspect.Type:
    return inspect.type_info(kind)


def _copy(value: Any, kind: inspect.Type) -> Any:
    if isinstance(kind, inspect.UnionType):
        kind = next(option for option in kind.types if not isinstance(option, inspect.NoneType))
    if isinstance(kind, inspect.StructType):
        if not isinstance(value, dict):
            return None  # e.g. the ``code`` of a contained resource other than a Medication
        return kind.cls(**{member.name: _copy(value[member.encode_name], member.type) for member in kind.fields
                           if member.encode_name in value})
    if isinstance(kind, inspect.VarTupleType):
        return tuple(_copy(item, kind.item_type) for item in value)
    if isinstance(value, Decimal):  # a decimal as the JSON number it was sent as (resources.decimal reads it back)
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    if isinstance(kind, inspect.StrType) and not isinstance(value, str):
        return value.isoformat()  # a date, dateTime, instant or time the complete model read
    return value


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


def _resource_type(resource: RawResource) -> Any:
    """The ``resourceType`` of a resource as it came (anything a JSON object holds there)."""
    return resource.get("resourceType") if isinstance(resource, dict) else type(resource).__name__


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


MedicationRole = Literal["taper", "opioid"]
"""Which history a medication resource belongs to: the taper's (a benzodiazepine, Z-drug or adjunct), or the opioid
and naloxone history, parsed only when a rule reads it."""


def medication_role(resource: dict[str, Any], terminology: Terminology) -> MedicationRole | None:
    """``"taper"`` if a coding or text of the raw medication resource names a benzodiazepine, Z-drug or adjunct;
    else ``"opioid"`` if one names an opioid or naloxone; else ``None`` (no rule reads it). One walk over the codings
    answers both questions: every medication of a record passes here."""
    role: MedicationRole | None = None
    for concept in medication_concepts(resource):
        for coding in items(concept.get("coding")):
            if isinstance(coding, dict):
                system, code = _text(coding.get("system")), _text(coding.get("code"))
                if terminology.is_taper_medication_code(system, code):
                    return "taper"
                if role is None and terminology.is_opioid_code(system, code):
                    role = "opioid"
                named = _named_in_text(coding.get("display"), terminology)
                if named == "taper":
                    return named
                role = role or named
        named = _named_in_text(concept.get("text"), terminology)
        if named == "taper":
            return named
        role = role or named
    return role


def _named_in_text(text: Any, terminology: Terminology) -> MedicationRole | None:
    if not text or not isinstance(text, str) or not terminology.mentions_relevant_ingredient(text):
        return None
    # the words of the taper's drugs are among the relevant ones: only a relevant text can name one
    return "taper" if terminology.mentions_taper_medication(text) else "opioid"


OBSERVATIONS_PER_CONCEPT = 2
"""Rules read the latest result of each observation concept (renal function, weight, pregnancy status or
test); two per concept leave room for a result without a value, and save parsing long lab histories."""


def _effective(resource: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "issued"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    period = resource.get("effectivePeriod")
    return str(period.get("start", "")) if isinstance(period, dict) else ""


def _latest_observations_only(resources: list[RawResource], concepts: dict[int, tuple[frozenset[str], str]]
                              ) -> list[RawResource]:
    """``resources`` less the observations beyond the newest :data:`OBSERVATIONS_PER_CONCEPT` of each concept
    (``concepts``: the concepts and the time of the observation at each index)."""
    kept = set(range(len(resources))) - concepts.keys()
    by_concept: dict[str, list[tuple[str, int]]] = {}
    for index, (found, effective) in concepts.items():
        for concept in found:
            by_concept.setdefault(concept, []).append((effective, index))
    for entries in by_concept.values():
        kept.update(index for _, index in sorted(entries, reverse=True)[:OBSERVATIONS_PER_CONCEPT])
    return [resource for index, resource in enumerate(resources) if index in kept]


def _names_taper_drug_by_code(resource: Resource, terminology: Terminology) -> bool:
    """Whether a resource read on decoding is a medication whose coded product is a benzodiazepine, Z-drug or
    adjunct: every one of a history read on decoding is (cds_service/fhir/hook_body.py), and answers at once."""
    concept = resource.medicationCodeableConcept if isinstance(resource, MedicationResource) else None
    for coding in concept.coding or () if concept is not None else ():  # not a generator: 3,000 orders pass here
        if terminology.is_taper_medication_code(coding.system, coding.code):
            return True
    return False


class RelevantRecord(NamedTuple):
    """The raw resources a rule can use, each once, before any parsing."""

    resources: list[RawResource]
    """The patient, conditions, observations, and the medications that name a benzodiazepine, Z-drug or adjunct."""
    opioid_medications: Sequence[RawResource] = ()
    """The medications that name an opioid or naloxone and none of those: parsed only when a rule reads them."""


def relevant_resources(raw: dict[str, list[RawResource]], terminology: Terminology) -> RelevantRecord:
    """The raw resources a rule can use, each once: the record the rules see, before any parsing."""
    seen: set[tuple[Any, str]] = set()
    relevant: list[RawResource] = []
    opioid_medications: list[RawResource] = []
    observation_concepts: dict[int, tuple[frozenset[str], str]] = {}
    for resources in raw.values():
        for resource in resources:
            concepts: frozenset[str] = frozenset()
            effective = ""
            role: MedicationRole | None = None
            kind: Any
            if not isinstance(resource, dict) and _names_taper_drug_by_code(resource, terminology):
                kind, resource_id, role = _resource_type(resource), resource.id, "taper"
            else:
                # a resource read on decoding is judged as the JSON it was: the filter has one reading of JSON
                data = resource if isinstance(resource, dict) else msgspec.to_builtins(resource)
                kind, resource_id = data.get("resourceType"), data.get("id")
                if kind in _MEDICATION_TYPES:
                    role = medication_role(data, terminology)
                    if role is None:
                        continue
                elif kind == "Condition":
                    if not _code_concepts(data.get("code"), terminology.condition_code_concepts):
                        continue
                elif kind == "Observation":
                    concepts = _code_concepts(data.get("code"), terminology.observation_code_concepts)
                    if not concepts:
                        continue
                    effective = _effective(data)
                elif kind != "Patient":
                    continue
            identity = (kind, str(resource_id))
            if resource_id is not None and identity in seen:
                continue  # the same resource reached us twice (e.g. prefetch page overlap)
            seen.add(identity)
            if role == "opioid":
                opioid_medications.append(resource)
                continue
            if concepts:
                observation_concepts[len(relevant)] = concepts, effective
            relevant.append(resource)
    return RelevantRecord(_latest_observations_only(relevant, observation_concepts), opioid_medications)


def build_patient_record(
    raw: dict[str, list[RawResource]],
    draft_orders: Iterable[RawResource],
    terminology: Terminology,
    incomplete: Iterable[str] = (),
) -> PatientRecord:
    """Parse the resources the rules can use into a :class:`PatientRecord`."""
    return parse_patient_record(relevant_resources(raw, terminology), draft_orders, incomplete)


def parse_patient_record(
    relevant: RelevantRecord,
    draft_orders: Iterable[RawResource],
    incomplete: Iterable[str] = (),
) -> PatientRecord:
    """Parse :func:`relevant_resources` and the draft orders into a :class:`PatientRecord`; the opioid and naloxone
    history is parsed only when a rule reads it."""
    notes = ParseNotes()
    parsed: dict[str, list[Any]] = {name: [] for name in _MODELS}
    observations = []
    opioids = relevant.opioid_medications
    for resource in relevant.resources:
        kind = _resource_type(resource)
        if kind == "Observation":
            observations.append(resource)
            continue
        model = _read(_MODELS[kind], resource, notes)
        if model is not None:
            parsed[kind].append(model)
    drafts = []
    draft_json: dict[str, dict[str, Any]] = {}
    for resource in draft_orders:
        # A draft with no medication yet (the sandbox before one is chosen) has nothing to evaluate. (Drafts come
        # as sent: only a prefetched Bundle's resources are read on decoding.)
        if not isinstance(resource, dict) \
                or resource.get("resourceType") not in ("MedicationRequest", "MedicationOrder") \
                or not any(key.startswith("medication") for key in resource):
            continue
        r4 = as_r4_medication_request(resource)
        model = parse_lenient(MedicationRequest, r4, notes)
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
        read_observations=lambda: _parse_observations(observations),
        read_opioid_history=lambda: _parse_opioid_history(opioids),
    )


def _read(kind: type[ResourceT], resource: RawResource, notes: ParseNotes) -> ResourceT | None:
    """A resource already read into ``kind`` (cds_service/fhir/hook_body.py) as it is; one as sent, parsed
    leniently."""
    if isinstance(resource, dict):
        return parse_lenient(kind, resource, notes)
    assert isinstance(resource, kind)
    return resource


def _parse_opioid_history(resources: Sequence[RawResource]) -> OpioidHistory:
    notes = ParseNotes()
    parsed: dict[str, list[Any]] = {kind: [] for kind in _MEDICATION_TYPES}
    for resource in resources:
        kind = _resource_type(resource)
        model = _read(_MODELS[kind], resource, notes)
        if model is not None:
            parsed[kind].append(model)
    return OpioidHistory(tuple(parsed["MedicationRequest"]), tuple(parsed["MedicationDispense"]),
                         tuple(parsed["MedicationStatement"]), tuple(notes.skipped))


def _parse_observations(resources: list[RawResource]) -> tuple[tuple[Observation, ...], tuple[str, ...]]:
    notes = ParseNotes()
    parsed = (_read(Observation, resource, notes) for resource in resources)
    return tuple(model for model in parsed if model is not None), tuple(notes.skipped)
