"""The REST API for integrations: one NinjaAPI at /api/v1, one Router per app, errors mapped once here."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError, _default_exception
from ninja.security import HttpBearer, django_auth

import agents.api
import clinic.api
import clinic.fhir.api
import search.api
from carebase.files import StorageFull
from carebase.middleware import storage_full_response, unavailable_response
from clinic.access import Actor, PatientAccessDenied, parse_scopes
from clinic.errors import InvalidInput
from clinic.fhir.outcome import FhirError, error_response, is_fhir_request
from clinic.selectors import api_token_get

logger = logging.getLogger(__name__)


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`: the token's user, limited by the token's scopes (clinic.access)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = api_token_get(raw_token=token)
        if found is None:
            return None
        request.user = found.user
        request.actor = Actor(  # type: ignore[attr-defined]
            user=found.user, channel="api", scopes=parse_scopes(found.scopes), token_patient_id=found.patient_id
        )
        return found.user


api = NinjaAPI(
    title="Carebase API",
    version="1",
    description="Clinical data ecosystem: FHIR in and out, patients and timelines, search, assistant, drafts.",
    auth=[BearerToken(), django_auth],
    urls_namespace="api",
)
api.add_router("/", clinic.api.router)
api.add_router("/", search.api.router)
api.add_router("/", agents.api.router)
api.add_router("/fhir", clinic.fhir.api.router)  # last: its catch-all answers unknown FHIR paths with an OperationOutcome


def _problem(request: HttpRequest, status: int, detail: str, **extra: Any) -> HttpResponse:
    """An error answer: an OperationOutcome under the FHIR base, else {"detail": "…"} (plus "errors" where there
    are several, each with its place): the one shape every REST error has."""
    if is_fhir_request(request):
        return error_response(status, detail)
    return api.create_response(request, {"detail": detail, **extra}, status=status)


@api.exception_handler(FhirError)
def fhir_error(request: HttpRequest, exc: FhirError) -> HttpResponse:
    return exc.response()


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or "invalid request"
    if is_fhir_request(request):
        return error_response(422, detail)
    return api.create_response(request, {"detail": detail, "errors": errors}, status=422)


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database is away (restarting): 503 with Retry-After, never a 500 (carebase.middleware)."""
    logger.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
    return unavailable_response(request)


@api.exception_handler(StorageFull)
def storage_full(request: HttpRequest, exc: StorageFull) -> HttpResponse:
    return storage_full_response(request, exc)


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug: under the FHIR base still an OperationOutcome (never an HTML page); elsewhere Django's 500."""
    if not is_fhir_request(request):
        return _default_exception(request, exc, api=api)
    logger.exception("FHIR request %s %s failed", request.method, request.path)
    return error_response(500, "internal error; it has been logged")


@api.exception_handler(DataError)
@api.exception_handler(UnicodeEncodeError)
def unstorable_value(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A value PostgreSQL cannot hold (a lone surrogate, a number out of range) that no schema caught: the
    request's fault, and the transaction around the write has rolled back."""
    logger.warning("unstorable value in %s %s: %s", request.method, request.path, exc)
    return _problem(request, 400, f"a value in the request cannot be stored: {str(exc).splitlines()[0][:200]}")


@api.exception_handler(InvalidInput)
def invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    return _problem(request, exc.status, str(exc), errors=exc.errors)


@api.exception_handler(DjangoValidationError)
def django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    return _problem(request, 400, "; ".join(exc.messages))


@api.exception_handler(Http404)
@api.exception_handler(ObjectDoesNotExist)
def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _problem(request, 404, str(exc) or "Not found")


@api.exception_handler(PermissionDenied)
@api.exception_handler(PatientAccessDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _problem(request, 403, str(exc) or "Forbidden")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _problem(request, exc.status_code, str(exc))
