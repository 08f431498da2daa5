"""The request bodies of the FHIR endpoints as the OpenAPI document shows them: FHIR resources and Bundles.

The endpoints read the raw body (a Bundle may be large, and its resources are checked by the importers, not by
pydantic); these schemas say what they accept so clients and schema-driven tests send the right shape.
"""

from __future__ import annotations

from typing import Any

from clinic.fhir.mapping import MAPPERS

FHIR_MEDIA_TYPES = ("application/fhir+json", "application/json")

RESOURCE: dict[str, Any] = {
    "type": "object",
    "description": "A FHIR R4 resource in JSON; types other than those stored here are counted as skipped.",
    "required": ["resourceType"],
    "properties": {
        "resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
        "id": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
    },
    "additionalProperties": True,
}

STORED_RESOURCE = {
    **RESOURCE,
    "description": "A FHIR R4 resource of a type stored here, with the id of the URL.",
    "required": ["resourceType", "id"],
    "properties": {**RESOURCE["properties"], "resourceType": {"type": "string", "enum": sorted(MAPPERS)}},
}

_REQUEST = {
    "type": "object",
    "required": ["method", "url"],
    "properties": {"method": {"type": "string", "enum": ["POST", "PUT"]}, "url": {"type": "string", "minLength": 1}},
}


def bundle(types: list[str], *, with_request: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": "object",
        "required": ["resource"],
        "properties": {"fullUrl": {"type": "string"}, "resource": RESOURCE},
    }
    if with_request:
        entry = {**entry, "required": ["resource", "request"], "properties": {**entry["properties"], "request": _REQUEST}}
    return {
        "type": "object",
        "description": "A FHIR R4 Bundle in JSON.",
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string", "enum": types},
            "entry": {"type": "array", "items": entry},
        },
    }


def request_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """`openapi_extra` for an endpoint whose body is FHIR JSON."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media: {"schema": schema} for media in FHIR_MEDIA_TYPES},
        }
    }


IMPORT_BODY = request_body(
    {"oneOf": [bundle(["transaction", "batch", "collection", "searchset"], with_request=False), RESOURCE]},
    "A FHIR Bundle (transaction, batch, collection or searchset) or one resource.",
)
TRANSACTION_BODY = request_body(
    bundle(["transaction", "batch"], with_request=True),
    "A transaction (all or nothing) or batch Bundle; each entry a POST or PUT of a resource type stored here.",
)
UPDATE_BODY = request_body(STORED_RESOURCE, "The resource to create or replace; its resourceType and id must match the URL.")
