"""FHIR RESTful writes: a transaction or batch Bundle posted to the base, and `PUT [type]/[id]`, both through the
one atomic importer (clinic.services.fhir_import_bytes): a rejected unit stores nothing and answers an
OperationOutcome naming the entry and field."""

from __future__ import annotations

from typing import Any

import orjson
from django.utils import timezone

from clinic.access import Actor, require_perm, require_scope
from clinic.fhir.export import resource_get
from clinic.fhir.importer import Entry, _is_exported_variant, _resource_id, error_text
from clinic.fhir.mapping import MAPPERS
from clinic.fhir.outcome import FhirError, issue, operation_outcome
from clinic.services import fhir_import_bytes

WRITE_METHODS = ("POST", "PUT")


def _may_write(actor: Actor, types: set[str]) -> None:
    require_scope(actor=actor, write=True)
    require_perm(actor=actor, perm="clinic.import_data", what="writing FHIR resources")
    for rtype in sorted(types):
        require_scope(actor=actor, write=True, resource=rtype)


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise FhirError(400, f"request body: not valid JSON ({e})", code="structure") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError(400, f"request body: expected {what} (a JSON object with a resourceType)", code="structure")
    return doc


def _rejected(run: Any, *, bundle: bool = True) -> FhirError:
    """The importer's errors as one OperationOutcome, an issue per entry and field."""
    issues = []
    for error in run.errors:
        entry = error.get("entry")
        where = f"Bundle.entry[{entry}].resource" if bundle and isinstance(entry, int) else error.get("resource_type", "")
        expression = f"{where}.{error['field']}" if error.get("field") and where else where
        issues.append(issue(error_text(error), expression=expression))
    return FhirError(400, "rejected; nothing was stored", issues=issues or [issue("rejected; nothing was stored")])


def _checked_entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of a transaction/batch Bundle, each with a resource and a POST or PUT request (a PUT's URL id
    becomes the resource's id); FhirError 400 naming the first entry that is not so."""
    if doc["resourceType"] != "Bundle" or doc.get("type") not in ("transaction", "batch"):
        raise FhirError(400, "POST to the FHIR base takes a Bundle of type transaction or batch (other Bundles and "
                        "NDJSON: POST /api/v1/fhir to import them)", expression="Bundle.type")  # fmt: skip
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError(400, "Bundle.entry must be a list", expression="Bundle.entry")
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirError(400, f"{where}: no resource with a resourceType", expression=f"{where}.resource")
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        method = str(request.get("method") or "POST").upper()
        if method not in WRITE_METHODS:
            raise FhirError(400, f"{where}: request.method {method} is not supported; use POST or PUT",
                            code="not-supported", expression=f"{where}.request.method")  # fmt: skip
        url = str(request.get("url") or "")
        rtype, _, rid = url.partition("?")[0].partition("/")
        if method == "PUT" and rid and "/" not in rid:
            if rtype != resource["resourceType"] or resource.get("id") not in (None, rid):
                raise FhirError(400, f"{where}: request.url {url} does not name this resource "
                                f"({resource['resourceType']}/{resource.get('id')})", expression=f"{where}.request.url")  # fmt: skip
            resource["id"] = rid
    return entries


def fhir_transaction(*, actor: Actor, body: bytes) -> dict[str, Any]:
    """Import a posted transaction/batch Bundle (all or nothing) and answer its transaction-response Bundle, an entry
    per input entry: 201 Created or 200 OK with its location; types not stored here are said so, with a warning."""
    doc = _json_object(body, "a transaction or batch Bundle")
    entries = _checked_entries(doc)
    _may_write(actor, {e["resource"]["resourceType"] for e in entries} & set(MAPPERS))
    keys = []
    for i, entry in enumerate(entries):
        resource = entry["resource"]
        stored = resource["resourceType"] in MAPPERS and not _is_exported_variant(resource)
        keys.append(
            (resource["resourceType"], _resource_id(Entry(i, str(entry.get("fullUrl") or ""), resource))) if stored else None
        )
    existing = _existing({key for key in keys if key})
    run = fhir_import_bytes(name="request body", data=orjson.dumps(doc), source="api", actor=actor)
    if run.errors:
        raise _rejected(run)
    now = timezone.now().isoformat()
    responses = []
    for entry, key in zip(entries, keys, strict=True):
        if key is None:
            rtype = entry["resource"]["resourceType"]
            note = issue(f"{rtype} is not stored here (stored: {', '.join(MAPPERS)}); the entry was skipped",
                         severity="warning", code="not-supported")  # fmt: skip
            responses.append({"response": {"status": "200 OK", "outcome": operation_outcome(note)}})
            continue
        status = "200 OK" if key in existing else "201 Created"
        responses.append({"response": {"status": status, "location": f"{key[0]}/{key[1]}", "lastModified": now}})
    kind = "batch-response" if doc.get("type") == "batch" else "transaction-response"
    return {"resourceType": "Bundle", "type": kind, "entry": responses}


def _existing(keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    found = set()
    for rtype, ids in by_type.items():
        model = MAPPERS[rtype][0]
        found |= {(rtype, rid) for rid in model._default_manager.filter(fhir_id__in=ids).values_list("fhir_id", flat=True)}
    return found


def fhir_update(*, actor: Actor, resource_type: str, fhir_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """PUT [type]/[id]: create or replace one resource; (201 or 200, the stored resource)."""
    if resource_type not in MAPPERS or "\x00" in fhir_id:
        raise FhirError(404, f"{resource_type}: not a resource type stored here ({', '.join(MAPPERS)})", code="not-supported")
    resource = _json_object(body, f"a {resource_type} resource")
    if resource["resourceType"] != resource_type:
        raise FhirError(
            400, f"resourceType is {resource['resourceType']}, the URL says {resource_type}", expression="resourceType"
        )
    if resource.get("id") != fhir_id:
        raise FhirError(
            400, f"id is {resource.get('id')!r}; it must be the URL's id {fhir_id!r}", expression=f"{resource_type}.id"
        )
    _may_write(actor, {resource_type})
    existed = resource_get(resource_type=resource_type, fhir_id=fhir_id) is not None
    run = fhir_import_bytes(name=f"{resource_type}/{fhir_id}", data=body, source="api", actor=actor)
    if run.errors:
        raise _rejected(run, bundle=False)
    stored = resource_get(resource_type=resource_type, fhir_id=fhir_id)
    if stored is None:
        raise FhirError(
            422, f"{resource_type}/{fhir_id} was not stored (genomic variant Observations come in through import_vcf)"
        )
    return (200 if existed else 201), stored
