"""Sign-in required on every page (Django's LoginRequiredMiddleware, told about htmx), the idle timeout, and requests
with characters PostgreSQL cannot store turned away before any view reads them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse

SESSION_TOUCHED = "_touched"
TOUCH_EVERY = 60  # seconds: the session row is rewritten at most once a minute, not on every request


class LoginRequiredMiddleware(DjangoLoginRequired):
    """An htmx request whose session ended gets 401 and HX-Redirect (a whole page swapped into a fragment would
    confuse); other requests are redirected to sign in as Django does."""

    def handle_no_permission(self, request: HttpRequest, view_func: Callable[..., Any]) -> HttpResponse:  # type: ignore[override]
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=401)
            response["HX-Redirect"] = settings.LOGIN_URL
            return response
        return super().handle_no_permission(request, view_func)


class SessionIdleTimeoutMiddleware:
    """A session expires SESSION_IDLE_MINUTES after its last request: each request (at most once a minute) moves
    the expiry forward. Sessions of bearer-token API calls are not involved (those carry no session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and request.user.is_authenticated:
            now = int(time.time())
            if now - int(session.get(SESSION_TOUCHED, 0)) >= TOUCH_EVERY:
                session[SESSION_TOUCHED] = now  # a modified session is saved with a fresh expiry
        return self.get_response(request)


JSON_TYPES = ("application/json", "application/fhir+json")
FORM_TYPES = ("application/x-www-form-urlencoded",)


class RejectNulMiddleware:
    """400 for a NUL character in a query parameter or a JSON or form body: PostgreSQL stores no NUL in text, so
    such a value could only fail deep inside a view. The answer names the parameter (or the body); files uploaded
    as multipart (DICOM, VCF) are binary and are not looked at."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        place = self._nul_at(request)
        if place is None:
            return self.get_response(request)
        return bad_request(request, f"{place}: a NUL character (0x00) is not allowed")

    @staticmethod
    def _nul_at(request: HttpRequest) -> str | None:
        for key in request.GET:
            if "\x00" in key or any("\x00" in value for value in request.GET.getlist(key)):
                return f"query parameter {key.replace(chr(0), '')!r}"
        content_type = request.content_type or ""
        if content_type in JSON_TYPES or content_type in FORM_TYPES:
            body = request.body
            if b"\x00" in body or (content_type in JSON_TYPES and b"\\u0000" in body):
                return "request body"
        return None


def bad_request(request: HttpRequest, detail: str) -> HttpResponse:
    """A 400 in the shape of the place asked (carebase.middleware.api_error), plain text for pages."""
    from carebase.middleware import api_error

    response = api_error(request, 400, detail)
    return response if response is not None else HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")
