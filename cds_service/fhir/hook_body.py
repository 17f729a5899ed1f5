"""A hook request's body decoded with its prefetched history read straight into the record's types.

A long history is thousands of resources. Decoded as JSON objects and then validated into the record's types
(:mod:`cds_service.clinical.resources`), each value was built twice, and the objects the rules never read kept the
garbage collector busy for the rest of the call. Here msgspec decodes a prefetched Bundle straight into those types,
validating each resource as :func:`cds_service.fhir.parse.parse_lenient` would: in one pass when every entry is of
the record's types (a search's answer nearly always is), else entry by entry. An entry those types refuse
(malformed, of another resource type, or an outcome) is decoded as JSON, as every entry was before, and takes the
lenient path: its repairs and notes are unchanged.

Only what the service reads of a Bundle is kept: ``resourceType``, ``link``, and each entry's ``resource`` and
``search``. Whatever the general decoder (:func:`cds_service.json_codec.decode_json`) would refuse or read
differently is left to it (:func:`decode_hook_body` answers ``None``): a body that is not UTF-8, not an object,
or that msgspec refuses (not JSON, NaN, a lone surrogate escape, a number beyond a double, nesting deeper than the
recursion limit).

Not for the ``medication-prescribe`` hook, whose clients send STU3 and DSTU2 shapes that must be renamed before
they are read (:mod:`cds_service.fhir.stu3`).
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from cds_service.clinical.resources import (
    Condition,
    MedicationDispense,
    MedicationRequest,
    MedicationStatement,
    Observation,
    Patient,
    Resource,
)
from cds_service.json_codec import decode_json

RawResource = dict[str, Any] | Resource
"""A resource of the record as it came: a JSON object, or already read into the record's types when it came in a
prefetched Bundle (:func:`decode_hook_body`)."""


RecordResource = MedicationRequest | MedicationDispense | MedicationStatement | Condition | Observation | Patient
EntryResource = TypeVar("EntryResource")


class _Entry(Struct, Generic[EntryResource]):
    resource: EntryResource | UnsetType = UNSET
    search: Any = UNSET


class _Bundle(Struct, Generic[EntryResource]):
    resourceType: Literal["Bundle"]
    entry: list[_Entry[EntryResource]] | UnsetType | None = UNSET
    link: Any = UNSET


class _HookRequest(Struct):
    """The members of a hook request the service reads (CDS Hooks 2.0); the request schema ignores the others."""

    hook: Any = UNSET
    hookInstance: Any = UNSET
    fhirServer: Any = UNSET
    fhirAuthorization: Any = UNSET
    context: Any = UNSET
    prefetch: dict[str, Raw] | UnsetType | None = UNSET


_REQUEST = msgspec.json.Decoder(_HookRequest)
_READ_BUNDLE = msgspec.json.Decoder(_Bundle[RecordResource])
_RAW_BUNDLE = msgspec.json.Decoder(_Bundle[Raw])
_RECORD_RESOURCE = msgspec.json.Decoder(RecordResource)
_REFUSED = (msgspec.DecodeError, RecursionError)
"""What msgspec refuses: not JSON, or (a ``ValidationError``, a kind of ``DecodeError``) not of the type asked."""


def decode_hook_body(raw: bytes) -> dict[str, Any] | None:
    """The hook request in ``raw``, as the general decoder reads it but for the prefetched Bundles' resources of the
    record's types, which are read into them; ``None`` for a body to leave to the general decoder."""
    if not raw.isascii():
        try:
            raw.decode("utf-8")  # msgspec does not check the strings it skips
        except UnicodeDecodeError:
            return None
    try:
        request = _REQUEST.decode(raw)
    except _REFUSED:
        return None
    body = {name: value for name in _HookRequest.__struct_fields__
            if (value := getattr(request, name)) is not UNSET and name != "prefetch"}
    if request.prefetch is not UNSET:
        body["prefetch"] = None if request.prefetch is None else {
            key: _prefetched(value) for key, value in request.prefetch.items()}
    return body


def _prefetched(raw: Raw) -> Any:
    """A prefetch key's value: a Bundle with its entries' resources read, or anything else as JSON."""
    try:  # a search's Bundle of the record's types only, as it nearly always is: read at once
        read = _READ_BUNDLE.decode(raw)
        return _bundle(read, [_entry(entry.resource, entry.search) for entry in read.entry or ()])
    except _REFUSED:
        pass
    try:  # other resources among them: each read on its own, if it can be
        bundle = _RAW_BUNDLE.decode(raw)
    except _REFUSED:
        return decode_json(memoryview(raw))
    return _bundle(bundle, [_entry(_resource(entry.resource, entry.search), entry.search)
                            for entry in bundle.entry or ()])


def _bundle(bundle: _Bundle[Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    value: dict[str, Any] = {"resourceType": bundle.resourceType}
    if bundle.link is not UNSET:
        value["link"] = bundle.link
    if bundle.entry is not UNSET:
        value["entry"] = None if bundle.entry is None else entries
    return value


def _entry(resource: Any, search: Any) -> dict[str, Any]:
    if search is UNSET:
        return {} if resource is UNSET else {"resource": resource}
    return {"search": search} if resource is UNSET else {"search": search, "resource": resource}


def _resource(raw: Raw | UnsetType, search: Any) -> Any:
    if raw is UNSET:
        return raw
    if isinstance(search, dict) and search.get("mode") == "outcome":
        return decode_json(memoryview(raw))  # an OperationOutcome the prefetch resolution reads as JSON
    try:
        return _RECORD_RESOURCE.decode(raw)
    except _REFUSED:
        return decode_json(memoryview(raw))
