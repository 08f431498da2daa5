"""Sign-in required on every page (Django's LoginRequiredMiddleware, told about htmx), and the idle timeout."""

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
