"""The OpenAPI 3.1 description served at ``/openapi.json`` (docs/service-contract.md §2)."""

from __future__ import annotations

from typing import Any

from cds_service.services import SERVICES
from cds_service.version import package_version

_OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _OUTCOME}}}


def openapi_document(server_url: str) -> dict[str, Any]:
    errors = {
        "400": _error("Malformed JSON or request; the OperationOutcome names the problem"),
        "401": _error("Missing or invalid client JWT (no detail)"),
        "404": _error("Unknown service"),
        "412": _error("Needed data neither prefetched nor fetchable"),
        "413": _error("Body too large"),
        "415": _error("Body is not JSON"),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "bzd-taper-cds", "version": package_version(),
                 "description": "CDS Hooks 2.0 service for benzodiazepine taper safety."},
        "servers": [{"url": server_url}],
        "paths": {
            "/cds-services": {"get": {
                "operationId": "discovery", "summary": "CDS Hooks discovery",
                "responses": {"200": {"description": "The services", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Discovery"}}}}, "401": errors["401"]}}},
            "/cds-services/{id}": {"post": {
                "operationId": "callService", "summary": "Evaluate a hook call",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": sorted(SERVICES)}}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/HookRequest"}}}},
                "responses": {"200": {"description": "Cards", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CardsResponse"}}}}, **errors}}},
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {"description": "Process up"}}}},
            "/readyz": {"get": {"operationId": "readyz", "responses": {"200": {"description": "Ready"}}}},
        },
        "components": {"schemas": {
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
        }},
    }
