"""The CDS Hooks 2.0 service request (CDS Hooks 2.0) as marshmallow schemas.

Unknown members and ``extension`` are ignored (forward compatibility, CDS Hooks 2.0); FHIR content
inside ``context`` and ``prefetch`` is only checked for shape here and parsed leniently later.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from cds_service.services import HookName


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class FhirAuthorizationSchema(_Lenient):
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    token_type = fields.String(required=True, validate=validate.OneOf(["Bearer", "bearer"]))
    expires_in = fields.Integer(strict=True)
    scope = fields.String()
    subject = fields.String()
    patient = fields.String()


class _BundleField(fields.Dict):
    """A FHIR Bundle object: only ``resourceType: Bundle`` is required (the sandbox omits ``type``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        if bundle.get("resourceType") != "Bundle":
            raise ValidationError("must be a FHIR Bundle (resourceType 'Bundle')")
        entries = bundle.get("entry", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ValidationError("Bundle.entry must be an array of objects")
        if _deeper_than(bundle, MAX_DRAFT_DEPTH):
            raise ValidationError(f"nested more than {MAX_DRAFT_DEPTH} levels deep (no FHIR order is)")
        return bundle


MAX_DRAFT_DEPTH = 64
"""Nesting of the draft orders' Bundle: a MedicationRequest with contained resources and extensions is a
dozen levels deep; hundreds exhaust the recursion of the code that reads it (a 500 before)."""


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep (without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


class _ContextSchema(_Lenient):
    patientId = fields.String(required=True, validate=validate.Length(min=1))
    userId = fields.String()
    encounterId = fields.String()


class OrderSignContextSchema(_ContextSchema):
    draftOrders = _BundleField(required=True)


class OrderSelectContextSchema(_ContextSchema):
    draftOrders = _BundleField(required=True)
    selections = fields.List(fields.String(validate=validate.Length(min=1)), required=True,
                             validate=validate.Length(min=1))


class MedicationPrescribeContextSchema(_ContextSchema):
    medications = _BundleField(required=True)


# Built once: a schema holds no per-call state, and building one costs more than a small request's load.
CONTEXT_SCHEMAS: dict[HookName, Schema] = {
    "order-sign": OrderSignContextSchema(),
    "order-select": OrderSelectContextSchema(),
    "medication-prescribe": MedicationPrescribeContextSchema(),
}


class _PrefetchField(fields.Dict):
    """Prefetch key → FHIR resource object or ``null`` (CDS Hooks 2.0)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        prefetch: dict[str, Any] = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        for key, item in prefetch.items():
            if item is not None and not (isinstance(item, dict) and isinstance(item.get("resourceType"), str)):
                raise ValidationError(f"prefetch '{key}' must be a FHIR resource or null")
        return prefetch


class HookRequestSchema(_Lenient):
    hook = fields.String(required=True, validate=validate.Length(min=1))
    hookInstance = fields.String(required=True, validate=validate.Length(min=1, max=200))
    fhirServer = fields.Url(require_tld=False, schemes={"http", "https"})
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema)
    context = fields.Dict(required=True)
    prefetch = _PrefetchField()

    @validates_schema
    def _authorization_needs_server(self, data: dict[str, Any], **kwargs: Any) -> None:
        # invariant cds-r-1: the token is for fhirServer, so it means nothing without one
        if "fhirAuthorization" in data and "fhirServer" not in data:
            raise ValidationError("fhirAuthorization requires fhirServer", field_name="fhirServer")


_HOOK_REQUEST = HookRequestSchema()


def load_hook_request(body: Any, expected_hook: HookName) -> dict[str, Any]:
    """Validate a service call body for the service's hook; raise ``ValidationError`` naming the problem."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    request: dict[str, Any] = _HOOK_REQUEST.load(body)
    if request["hook"] != expected_hook:
        raise ValidationError(f"this service answers the '{expected_hook}' hook, not '{request['hook']}'",
                              field_name="hook")
    try:
        request["context"] = CONTEXT_SCHEMAS[expected_hook].load(request["context"])
    except ValidationError as exc:
        raise ValidationError({"context": exc.messages}) from exc
    return request
