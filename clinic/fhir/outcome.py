"""FHIR answers: resources as `application/fhir+json`, and errors as OperationOutcome resources (never HTML)."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse

FHIR_JSON = "application/fhir+json; charset=utf-8"
FHIR_BASE_PATH = "/api/v1/fhir/"
# The HTTP status of an error → the OperationOutcome issue code FHIR gives it.
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
               410: "deleted", 422: "processing", 500: "exception"}  # fmt: skip


class FhirError(Exception):
    """An error of a FHIR interaction: its HTTP status, the issue code, what went wrong and where (FHIRPath)."""

    def __init__(
        self, status: int, message: str, *, code: str = "", expression: str = "", issues: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or ISSUE_CODES.get(status, "processing")
        self.expression = expression
        self.issues = issues or [issue(message, code=self.code, expression=expression)]

    def response(self) -> HttpResponse:
        return fhir_response(operation_outcome(*self.issues), status=self.status)


def is_fhir_request(request: HttpRequest) -> bool:
    """Whether the request is for the FHIR base (`/api/v1/fhir/…`); `POST /api/v1/fhir`, the import, is not."""
    return request.path.startswith(FHIR_BASE_PATH)


def issue(message: str, *, severity: str = "error", code: str = "invalid", expression: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        found["expression"] = [expression]
    return found


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def fhir_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type=FHIR_JSON)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(status: int, message: str, *, code: str = "", expression: str = "") -> HttpResponse:
    outcome = operation_outcome(issue(message, code=code or ISSUE_CODES.get(status, "processing"), expression=expression))
    return fhir_response(outcome, status=status)
