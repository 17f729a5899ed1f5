"""A hook request's body decoded with a long benzodiazepine history read straight into the record's types.

A long history is thousands of orders, every one of which the rules read. Decoded as JSON objects and then
validated into the record's types (:mod:`cds_service.clinical.resources`), each value was built twice, and the
objects kept the garbage collector busy for the rest of the call. A prefetched Bundle whose every entry is a
medication coded as a benzodiazepine, Z-drug or adjunct is therefore decoded by msgspec straight into those types,
each resource validated as :func:`cds_service.fhir.parse.parse_lenient` validates it. Any other Bundle is decoded
as JSON and filtered before anything is validated, as before: a typical record is mostly resources no rule reads,
and validating those would cost more than building them as JSON (3.2 against 1.7 µs for a medication order). So is
one whose typed read fails (a resource needing a repair, say): it takes the lenient path, repairs and notes
unchanged. Whichever path a Bundle takes, the record is the same.

Only what the service reads of a Bundle read typed is kept: ``resourceType``, ``link``, and each entry's
``resource`` and ``search``. Whatever the general decoder (:func:`cds_service.json_codec.decode_json`) would refuse
or read differently is left to it (:func:`decode_hook_body` answers ``None``): a body that is not UTF-8, not an
object, or that msgspec refuses (not JSON, NaN, a lone surrogate escape, a number beyond a double, nesting deeper
than the recursion limit).

Not for the ``medication-prescribe`` hook, whose clients send STU3 and DSTU2 shapes that must be renamed before
they are read (:mod:`cds_service.fhir.stu3`).
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from cds_service.clinical.resources import MedicationDispense, MedicationRequest, MedicationStatement, Resource
from cds_service.clinical.terminology import RXNORM_SYSTEMS, load_terminology
from cds_service.json_codec import decode_json

RawResource = dict[str, Any] | Resource
"""A resource of the record as it came: a JSON object, or already read into the record's types when it came in a
prefetched Bundle (:func:`decode_hook_body`)."""


class _Entry(Struct):
    resource: MedicationRequest | MedicationDispense | MedicationStatement | UnsetType = UNSET  # as the gate admits
    search: Any = UNSET


class _Bundle(Struct):
    resourceType: Literal["Bundle"]
    entry: list[_Entry] | UnsetType | None = UNSET
    link: Any = UNSET


def _taper_history_decoder() -> msgspec.json.Decoder[Any]:
    """A decoder that reads only a Bundle whose every entry's medication is coded as a benzodiazepine, Z-drug or
    adjunct (RxNorm, :meth:`~cds_service.clinical.terminology.Terminology.is_taper_medication_code`), and refuses
    any other at its first other entry."""
    system = Literal.__getitem__(tuple(sorted(RXNORM_SYSTEMS)))
    code = Literal.__getitem__(tuple(sorted(load_terminology().taper_medication_codes)))
    coding = msgspec.defstruct("Coding", [("system", system), ("code", code)], gc=False)
    concept = msgspec.defstruct("CodeableConcept", [("coding", tuple[coding, ...])], gc=False)  # type: ignore[valid-type]
    kinds = tuple(msgspec.defstruct(kind, [("medicationCodeableConcept", concept)], tag_field="resourceType", tag=kind,
                                    gc=False)
                  for kind in ("MedicationRequest", "MedicationDispense", "MedicationStatement"))
    entry = msgspec.defstruct("Entry", [("resource", Union.__getitem__(kinds))], gc=False)
    return msgspec.json.Decoder(msgspec.defstruct("Bundle", [("entry", list[entry])]))  # type: ignore[valid-type]


class _HookRequest(Struct):
    """The members of a hook request the service reads (CDS Hooks 2.0); the request schema ignores the others."""

    hook: Any = UNSET
    hookInstance: Any = UNSET
    fhirServer: Any = UNSET
    fhirAuthorization: Any = UNSET
    context: Any = UNSET
    prefetch: dict[str, Raw] | UnsetType | None = UNSET


_REQUEST = msgspec.json.Decoder(_HookRequest)
_TAPER_HISTORY = _taper_history_decoder()  # built at import: see cds_service/fhir/parse.py, _build_type_info
_READ_BUNDLE = msgspec.json.Decoder(_Bundle)
_REFUSED = (msgspec.DecodeError, RecursionError)
"""What msgspec refuses: not JSON, or (a ``ValidationError``, a kind of ``DecodeError``) not of the type asked."""


TYPED_READ_MIN_BYTES = 1 << 20
"""The smallest body in which a history is looked for. Finding the prefetched Bundles in the body is one more pass
over it, about 0.6 ns a byte: 0.4 ms (6 % of the call) for a typical record of 1,000 resources, for nothing. A
3,000-order history (1.9 MB) is read a quarter cheaper."""


def decode_hook_body(raw: bytes, min_bytes: int | None = None) -> dict[str, Any] | None:
    """The hook request in ``raw``, as the general decoder reads it but for the prefetched taper histories, read
    into the record's types; ``None`` for a body to leave to the general decoder — one of fewer than ``min_bytes``
    (:data:`TYPED_READ_MIN_BYTES`) among them."""
    if len(raw) < (TYPED_READ_MIN_BYTES if min_bytes is None else min_bytes):
        return None
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
    """A prefetch key's value: a taper history read into the record's types, or anything else as JSON."""
    try:
        _TAPER_HISTORY.decode(raw)
        bundle = _READ_BUNDLE.decode(raw)
    except _REFUSED:
        return decode_json(memoryview(raw))
    value: dict[str, Any] = {"resourceType": bundle.resourceType}
    if bundle.link is not UNSET:
        value["link"] = bundle.link
    if bundle.entry is not UNSET:
        value["entry"] = None if bundle.entry is None else [_entry(entry) for entry in bundle.entry]
    return value


def _entry(entry: _Entry) -> dict[str, Any]:
    resource, search = entry.resource, entry.search
    if resource is UNSET:
        return {} if search is UNSET else {"search": search}
    return {"resource": resource} if search is UNSET else {"search": search, "resource": resource}
