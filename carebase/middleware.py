"""While PostgreSQL is away (restarting, failing over), every page and API call answers 503 with a clear message
and a Retry-After, never a 500; Django reconnects by itself once the server is back (CONN_HEALTH_CHECKS)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from carebase.files import StorageFull

logger = logging.getLogger("carebase.unavailable")
RETRY_AFTER_SECONDS = 5
MESSAGE = "The database is not answering (it may be restarting). Nothing was changed; try again in a few seconds."
_FLAG = "_carebase_database_unavailable"


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Errors of the connection, not of the statement: the server is down, restarting or unreachable."""
    return isinstance(exc, OperationalError | InterfaceError)


def api_error(request: HttpRequest, status: int, detail: str) -> HttpResponse | None:
    """An error answered before or around the API's own handlers, in its shape: an OperationOutcome under the FHIR
    base, `{"detail": …}` elsewhere under /api/; None for pages, whose shape the caller picks."""
    if not request.path.startswith("/api/"):
        return None
    from clinic.fhir.outcome import error_response, is_fhir_request

    return error_response(status, detail) if is_fhir_request(request) else JsonResponse({"detail": detail}, status=status)


def unavailable_response(request: HttpRequest, *, status: int = 503, message: str = MESSAGE) -> HttpResponse:
    """503 (or 507, disk full): the API's error shape under /api/, a page for browsers."""
    response = api_error(request, status, message)
    if response is None:
        # No request context: the context processors would ask the database for the user.
        title = "Carebase is briefly unavailable" if status == 503 else "Carebase could not store this"
        context = {"title": title, "message": message, "retry_after": RETRY_AFTER_SECONDS}
        response = HttpResponse(render_to_string("503.html", context), status=status)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def storage_full_response(request: HttpRequest, exc: StorageFull) -> HttpResponse:
    """507: a file could not be written for want of room, and nothing was stored."""
    logger.error("storage full during %s %s: %s", request.method, request.path, exc)
    message = f"The server's disk is full: nothing was stored ({exc.strerror}). Tell the administrator."
    return unavailable_response(request, status=507, message=message)


class DatabaseUnavailableMiddleware:
    """Outermost: an error of the database connection raised anywhere inside (a view, the session or the user
    loaded by another middleware) becomes a 503. Django turns exceptions raised below into 500 responses before
    they reach here, so the `got_request_exception` receiver marks the request and the 500 is replaced."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, _FLAG, False) and response.status_code == 500:
            return unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_unavailable(exception):
            logger.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
            return unavailable_response(request)
        if isinstance(exception, StorageFull):
            return storage_full_response(request, exception)
        return None


def _mark_request(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        setattr(request, _FLAG, True)


got_request_exception.connect(_mark_request, dispatch_uid="carebase.database_unavailable")
