"""The OpenAPI 3.1 description served at ``/openapi.json``: every endpoint of docs/service-contract.md §2, with the
statuses of §7 (``tests/api/test_openapi.py`` checks that no route of the app is missing)."""

from __future__ import annotations

from typing import Any

from cds_service.clinical.cards import CARD_TYPES
from cds_service.clinical.profiles import PROFILE_CODES
from cds_service.schemas.taper_plan_query import PLANNABLE
from cds_service.services import SERVICES
from cds_service.version import package_version

_OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}
_CLIENT_JWT: list[dict[str, list[str]]] = [{"clientJwt": []}]
_CLIENT_OR_OPERATOR: list[dict[str, list[str]]] = [{"clientJwt": []}, {"operatorToken": []}]
_SERVICE_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "enum": sorted(SERVICES)}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _OUTCOME}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_ERRORS = {
    "400": _error("Malformed JSON or request; the OperationOutcome names the problem"),
    "401": _error("Missing or invalid client JWT (no detail)"),
    "404": _error("Unknown service; the OperationOutcome lists the service ids"),
    "412": _error("Needed data neither prefetched nor fetchable"),
    "413": _error("Body too large (over 2 MiB)"),
    "415": _error("Body is not JSON"),
    "429": _error("This client already holds its share of the worker's FHIR fallback threads (Retry-After: 1)"),
    "503": _error("The feedback store is unavailable; nothing was stored"),
}
_STORE_ERRORS = {status: _ERRORS[status] for status in ("401", "503")}
_PATIENT_PARAMETERS = [
    _query("patientId", {"type": "string"}, "the patient as the hook calls name it (context.patientId)"),
    _query("fhirServer", {"type": "string"}, "the FHIR server the calls name, when they name one"),
    _query("patientHash", {"type": "string"}, "the patient hash a listing shows (instead of patientId)"),
    _query("client", {"type": "string"}, "operator token only: one client's (JWT issuer's) snoozes"),
]


def _paths() -> dict[str, Any]:
    hook_errors = {status: _ERRORS[status] for status in ("400", "401", "404", "412", "413", "415", "429")}
    return {
        "/cds-services": {"get": {
            "operationId": "discovery", "summary": "CDS Hooks discovery", "security": _CLIENT_JWT,
            "responses": {"200": _json("The services", {"$ref": "#/components/schemas/Discovery"}),
                          "401": _ERRORS["401"]}}},
        "/cds-services/{id}": {"post": {
            "operationId": "callService", "summary": "Evaluate a hook call", "security": _CLIENT_JWT,
            "parameters": [_SERVICE_ID],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/HookRequest"}}}},
            "responses": {"200": _json("Cards", {"$ref": "#/components/schemas/CardsResponse"}), **hook_errors}}},
        "/cds-services/{id}/feedback": {"post": {
            "operationId": "feedback", "summary": "CDS Hooks 2.0 feedback on cards this client was shown",
            "security": _CLIENT_JWT, "parameters": [_SERVICE_ID],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/FeedbackRequest"}}}},
            "responses": {"200": _json("What was stored", {"$ref": "#/components/schemas/FeedbackAnswer"}),
                          **{s: _ERRORS[s] for s in ("400", "401", "404", "413", "415", "503")}}}},
        "/analytics": {"get": {
            "operationId": "analytics", "summary": "Card outcomes per card type: the calling client's, or every "
                                                   "client's with the operator token",
            "security": _CLIENT_OR_OPERATOR,
            "responses": {"200": _json("Outcomes per card type", {"type": "object"}), **_STORE_ERRORS}}},
        "/snoozes": {
            "get": {"operationId": "listSnoozes", "summary": "Active snoozes: the calling client's, or every "
                                                             "client's with the operator token",
                    "security": _CLIENT_OR_OPERATOR, "parameters": _PATIENT_PARAMETERS,
                    "responses": {"200": _json("The snoozes", {"$ref": "#/components/schemas/Snoozes"}),
                                  **_STORE_ERRORS}},
            "delete": {"operationId": "clearSnoozes", "summary": "Clear a patient's snoozes (one card type or all)",
                       "security": _CLIENT_OR_OPERATOR,
                       "parameters": [*_PATIENT_PARAMETERS, _query("cardType", {"enum": list(CARD_TYPES)},
                                                                   "only this card type's snooze")],
                       "responses": {"200": _json("How many were cleared", {
                           "type": "object", "required": ["cleared"],
                           "properties": {"cleared": {"type": "integer", "minimum": 0}}}),
                           "400": _error("No patient named, or an unknown cardType"), **_STORE_ERRORS}}},
        "/taper-plan": {"get": {
            "operationId": "taperPlan", "summary": "A printable taper schedule (or the patient handout), linked "
                                                   "from cards; no patient identifiers",
            "security": [], "parameters": [
                _query("drug", {"enum": sorted(PLANNABLE), "default": "diazepam"}, "the benzodiazepine"),
                _query("dose", {"type": "number", "minimum": 0.1, "maximum": 200}, "mg per day", required=True),
                _query("profile", {"enum": list(PROFILE_CODES), "default": "summary"}, "the taper profile"),
                _query("long_term", {"enum": ["yes", "no", "1", "0", "true", "false"], "default": "no"},
                       "taken for a year or longer"),
                _query("age", {"enum": ["under-65", "65-plus", "unknown"], "default": "unknown"}, "age band"),
                _query("doses_per_day", {"type": "integer", "minimum": 1, "maximum": 4, "default": 2},
                       "doses a day"),
                _query("product", {"type": "string"}, "RxNorm code of the product in use (a marketed form of the "
                                                      "drug): the plan starts with it when it can"),
                _query("view", {"enum": ["plans", "handout"], "default": "plans"}, "the plans or the handout"),
                _query("plan", {"enum": ["native", "switch"], "default": "native"}, "the handout's plan")],
            "responses": {"200": {"description": "The page", "content": {"text/html": {"schema": {
                "type": "string"}}}}, "400": {"description": "The page naming each invalid parameter",
                                             "content": {"text/html": {"schema": {"type": "string"}}}}}}},
        "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness: the process is up", "security": [],
                             "responses": {"200": {"description": "Process up"}}}},
        "/readyz": {"get": {"operationId": "readyz", "security": [],
                            "summary": "Readiness: the store reachable at the current schema, terminology loaded",
                            "responses": {"200": {"description": "Ready"},
                                          "503": {"description": "Not ready, and why"}}}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics", "security": [],
                             "responses": {"200": {"description": "Prometheus text format", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This description", "security": [],
                                  "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})}}},
    }


_SCHEMAS: dict[str, Any] = {
    "OperationOutcome": {"type": "object", "required": ["resourceType", "issue"], "properties": {
        "resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array", "minItems": 1}}},
    "Discovery": {"type": "object", "required": ["services"], "properties": {"services": {
        "type": "array", "items": {"type": "object", "required": ["hook", "id", "description"]}}}},
    "HookRequest": {"type": "object", "required": ["hook", "hookInstance", "context"], "properties": {
        "hook": {"type": "string"}, "hookInstance": {"type": "string"},
        "fhirServer": {"type": "string", "format": "uri"},
        "fhirAuthorization": {"type": "object", "required": ["access_token", "token_type"]},
        "context": {"type": "object", "required": ["patientId"], "properties": {
            "patientId": {"type": "string"}, "userId": {"type": "string"},
            "draftOrders": {"$ref": "#/components/schemas/Bundle"},
            "selections": {"type": "array", "items": {"type": "string"}}}},
        "prefetch": {"type": "object", "additionalProperties": {
            "oneOf": [{"type": "null"}, {"type": "object", "required": ["resourceType"]}]}},
        "extension": {"type": "object"}}},
    "Bundle": {"type": "object", "required": ["resourceType"], "properties": {
        "resourceType": {"const": "Bundle"}, "entry": {"type": "array", "items": {
            "type": "object", "properties": {"resource": {"type": "object"}}}}}},
    "CardsResponse": {"type": "object", "required": ["cards"], "properties": {"cards": {
        "type": "array", "items": {"type": "object", "required": ["summary", "indicator", "source"],
                                   "properties": {"summary": {"type": "string", "maxLength": 139},
                                                  "indicator": {"enum": ["info", "warning", "critical"]}}}}}},
    "FeedbackRequest": {"type": "object", "required": ["feedback"], "properties": {"feedback": {
        "type": "array", "minItems": 1, "maxItems": 500, "items": {
            "type": "object", "required": ["card", "outcome", "outcomeTimestamp"], "properties": {
                "card": {"type": "string", "description": "the uuid of a card this client was shown"},
                "outcome": {"enum": ["accepted", "overridden"]},
                "acceptedSuggestions": {"type": "array", "maxItems": 20, "items": {
                    "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}},
                "overrideReason": {"type": "object", "properties": {
                    "reason": {"type": "object", "required": ["system", "code"]},
                    "userComment": {"type": "string", "maxLength": 2000}}},
                "outcomeTimestamp": {"type": "string", "format": "date-time"}}}}}},
    "FeedbackAnswer": {"type": "object", "required": ["stored", "alreadyStored"], "properties": {
        "stored": {"type": "integer", "minimum": 0}, "alreadyStored": {"type": "integer", "minimum": 0},
        "superseded": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}}},
    "Snoozes": {"type": "object", "required": ["snoozeDays", "snoozes"], "properties": {
        "snoozeDays": {"type": "integer"}, "snoozes": {"type": "array", "items": {"type": "object"}}}},
}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The description, with ``server_url`` (``CDS_PUBLIC_BASE_URL``) as its one server."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "bzd-taper-cds", "version": package_version(),
                 "description": "CDS Hooks 2.0 service for benzodiazepine taper safety."},
        "servers": [{"url": server_url}],
        "security": _CLIENT_JWT,
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "clientJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                              "description": "CDS Hooks 2.0 client JWT from an allow-listed issuer"},
                "operatorToken": {"type": "http", "scheme": "bearer",
                                  "description": "CDS_OPERATOR_TOKEN: every client's analytics and snoozes"}},
            "schemas": _SCHEMAS},
    }
