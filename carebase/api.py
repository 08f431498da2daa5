"""The REST API for integrations: one NinjaAPI at /api/v1, one Router per app, errors mapped once here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.security import HttpBearer, django_auth

import agents.api
import clinic.api
import search.api
from clinic.access import Actor, PatientAccessDenied, parse_scopes
from clinic.errors import InvalidInput
from clinic.selectors import api_token_get


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


@api.exception_handler(InvalidInput)
def invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc), "errors": exc.errors}, status=exc.status)


@api.exception_handler(DjangoValidationError)
def django_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": "; ".join(exc.messages)}, status=400)


@api.exception_handler(Http404)
@api.exception_handler(ObjectDoesNotExist)
def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not found"}, status=404)


@api.exception_handler(PermissionDenied)
@api.exception_handler(PatientAccessDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Forbidden"}, status=403)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)
