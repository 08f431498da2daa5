"""The FHIR R4 RESTful API at /api/v1/fhir: metadata, SMART configuration, read, search, $everything, Bulk Data
$export, transaction/batch and update. Mounted by carebase.api; errors are OperationOutcomes (carebase.api maps
exceptions on these paths to them). Each endpoint: access check → parameters → one service or selector call."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Router

from clinic.access import request_actor
from clinic.fhir import bulk
from clinic.fhir.capability import capability_statement, smart_configuration
from clinic.fhir.openapi import TRANSACTION_BODY, UPDATE_BODY
from clinic.fhir.outcome import FhirError, fhir_response, issue, operation_outcome
from clinic.fhir.rest import fhir_everything, fhir_read, fhir_search, parse_instant
from clinic.fhir.writes import fhir_transaction, fhir_update

router = Router(tags=["FHIR R4"])

EXPORT_PARAMS = {"_type", "_since", "_outputFormat"}
NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")


def base_url(request: HttpRequest) -> str:
    """This server's FHIR base as the client reached it, e.g. http://host/api/v1/fhir/."""
    return request.build_absolute_uri(reverse("api:fhir_metadata")).removesuffix("metadata")


def _query(request: HttpRequest) -> list[tuple[str, str]]:
    """The query's pairs in order (a NUL character never gets here: clinic.middleware.RejectNulMiddleware)."""
    return [(key, value) for key in request.GET for value in request.GET.getlist(key)]


def _lenient(request: HttpRequest) -> bool:
    return "handling=lenient" in request.headers.get("Prefer", "")


@router.get("/metadata", auth=None, url_name="fhir_metadata", summary="The CapabilityStatement: what this server supports")
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_response(capability_statement(base_url=base_url(request)))


@router.get("/.well-known/smart-configuration", auth=None, summary="SMART on FHIR configuration: scopes, how tokens are issued")
def smart_config(request: HttpRequest) -> HttpResponse:
    return fhir_response(smart_configuration(base_url=base_url(request)))


@router.get("/", include_in_schema=False)
def system_search(request: HttpRequest) -> HttpResponse:
    raise FhirError(400, f"search one type at a time: GET {base_url(request)}{{type}}?…; system-wide search is not supported",
                    code="not-supported")  # fmt: skip


@router.post(
    "/",
    summary="A transaction or batch Bundle (all or nothing), answered with its response Bundle",
    openapi_extra=TRANSACTION_BODY,
)
def transaction(request: HttpRequest) -> HttpResponse:
    return fhir_response(fhir_transaction(actor=request_actor(request), body=request.body))


# --- Bulk Data


def export_kickoff(request: HttpRequest, *, level: str, patient_ids: list[int] | None = None, group: str = "") -> HttpResponse:
    """Bulk Data kick-off: checks the headers and parameters, starts the job, answers 202 + Content-Location."""
    accept = request.headers.get("Accept", "")
    if accept and not any(kind in accept for kind in ("application/fhir+json", "application/json", "*/*")):
        raise FhirError(406, f"Accept: {accept}; $export answers application/fhir+json")
    prefer = request.headers.get("Prefer", "")
    if prefer and "respond-async" not in prefer:
        raise FhirError(400, f"Prefer: {prefer}; $export runs asynchronously (Prefer: respond-async)")
    query = _query(request)
    unknown = sorted({k for k, _ in query} - EXPORT_PARAMS)
    if unknown and not _lenient(request):
        raise FhirError(400, f"$export: unsupported parameter {', '.join(unknown)} (supported: {', '.join(sorted(EXPORT_PARAMS))})",
                        code="not-supported", expression=unknown[0])  # fmt: skip
    output_format = request.GET.get("_outputFormat", NDJSON_FORMATS[0])
    if output_format not in NDJSON_FORMATS:
        raise FhirError(
            400, f"_outputFormat={output_format}: only NDJSON ({', '.join(NDJSON_FORMATS)})", expression="_outputFormat"
        )
    types = [t.strip() for v in request.GET.getlist("_type") for t in v.split(",") if t.strip()]
    since = parse_instant(request.GET["_since"], "_since") if request.GET.get("_since") else None
    export = bulk.bulk_export_start(
        actor=request_actor(request), level=level, types=types, since=since, request_url=request.build_absolute_uri(),
        patient_ids=patient_ids, group=group,
    )  # fmt: skip
    accepted = operation_outcome(issue(f"export {export.pk} accepted", severity="information", code="informational"))
    return fhir_response(accepted, status=202, headers={"Content-Location": f"{base_url(request)}bulk/{export.pk}"})


@router.get("/$export", summary="Bulk Data: export every chart you may read (202 + Content-Location to poll)")
def system_export(request: HttpRequest) -> HttpResponse:
    return export_kickoff(request, level="system")


@router.get("/Patient/$export", summary="Bulk Data: export the patients you may read (202 + Content-Location to poll)")
def patient_export(request: HttpRequest) -> HttpResponse:
    return export_kickoff(request, level="patient")


@router.get(
    "/bulk/{export_id}", url_name="fhir_bulk_status", summary="Bulk Data status: 202 while running, 200 with the manifest"
)
def export_status(request: HttpRequest, export_id: str) -> HttpResponse:
    export = bulk.bulk_export_get(actor=request_actor(request), export_id=export_id)
    if export.status == export.Status.FAILED:
        raise FhirError(500, f"export {export.pk} failed: {export.error}", code="exception")
    if export.status != export.Status.COMPLETED:
        progress = export.progress or export.status
        body = operation_outcome(issue(progress, severity="information", code="informational"))
        return fhir_response(body, status=202, headers={"X-Progress": progress, "Retry-After": "2"})
    base = base_url(request)
    manifest = bulk.bulk_export_manifest(export=export, file_url=lambda name: f"{base}bulk/{export.pk}/{name}")
    return HttpResponse(orjson.dumps(manifest), content_type="application/json")


@router.delete("/bulk/{export_id}", summary="Bulk Data: cancel an export and delete its files")
def export_cancel(request: HttpRequest, export_id: str) -> HttpResponse:
    bulk.bulk_export_cancel(actor=request_actor(request), export_id=export_id)
    return fhir_response(operation_outcome(issue("cancelled", severity="information", code="informational")), status=202)


@router.get("/bulk/{export_id}/{file_name}", summary="Bulk Data: one NDJSON file of your export (audited)")
def export_file(request: HttpRequest, export_id: str, file_name: str) -> FileResponse:
    path = bulk.bulk_export_file(actor=request_actor(request), export_id=export_id, file_name=file_name)
    return FileResponse(path.open("rb"), content_type="application/fhir+ndjson")


# --- read, search, update


@router.get("/Patient/{fhir_id}/$everything", summary="Everything held for one patient (_count pages it, _since)")
def everything(request: HttpRequest, fhir_id: str) -> HttpResponse:
    bundle = fhir_everything(actor=request_actor(request), fhir_id=fhir_id, query=_query(request), base_url=base_url(request))
    return fhir_response(bundle)


@router.get("/{resource_type}", summary="Search: a searchset Bundle (parameters: see metadata; _count, _sort, _include)")
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    bundle = fhir_search(
        actor=request_actor(request), resource_type=resource_type, query=_query(request), base_url=base_url(request),
        lenient=_lenient(request),
    )  # fmt: skip
    return fhir_response(bundle)


@router.get("/{resource_type}/{fhir_id}", summary="Read one stored resource by type and id")
def read(request: HttpRequest, resource_type: str, fhir_id: str) -> HttpResponse:
    return fhir_response(fhir_read(actor=request_actor(request), resource_type=resource_type, fhir_id=fhir_id))


@router.put(
    "/{resource_type}/{fhir_id}", summary="Create or replace one resource (its id must be the URL's)", openapi_extra=UPDATE_BODY
)
def update(request: HttpRequest, resource_type: str, fhir_id: str) -> HttpResponse:
    status, stored = fhir_update(actor=request_actor(request), resource_type=resource_type, fhir_id=fhir_id, body=request.body)
    return fhir_response(stored, status=status, headers={"Location": f"{base_url(request)}{resource_type}/{fhir_id}"})


@router.api_operation(["GET", "POST", "PUT", "DELETE", "PATCH"], "/{path:rest}", include_in_schema=False)
def unknown(request: HttpRequest, rest: str) -> Any:
    raise FhirError(404, f"{request.method} {rest}: no such FHIR interaction here (see {base_url(request)}metadata)",
                    code="not-supported")  # fmt: skip
