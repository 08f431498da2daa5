"""CDS Hooks over HTTP: `GET /cds-services` (discovery), `POST /cds-services/{id}` (a hook call) and
`POST /cds-services/{id}/feedback`. Plain views, because the paths and the error bodies are the spec's, not our
REST API's.

Authentication is Carebase's bearer token (`manage.py create_api_token`), the one /api/v1 takes: the EHR's
client is a Carebase user (an integration, or a clinician's own token) and answers are limited by its role and
scopes. CDS Hooks proper has the EHR sign a JWT per call (its `iss`, `aud`, `jti`, keys at a JWKS URL); accepting
those would add per-EHR trust configuration and replay protection, and map the JWT's `sub` to a Carebase user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from cds import hooks, services
from clinic import models as m
from clinic.access import Actor, parse_scopes
from clinic.errors import InvalidInput
from clinic.selectors import api_token_get

View = Callable[..., HttpResponse]


def _token_actor(request: HttpRequest) -> Actor | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    token = api_token_get(raw_token=raw.strip()) if scheme.lower() == "bearer" and raw.strip() else None
    if token is None:
        return None
    request.user = token.user
    actor = Actor(user=token.user, channel="api", scopes=parse_scopes(token.scopes), token_patient_id=token.patient_id)
    request.actor = actor  # type: ignore[attr-defined]
    return actor


def _problem(status: int, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


def hook_endpoint(view: View) -> View:
    """Bearer-token authentication (401 without one) and the errors as JSON: 400 naming the field, 403, 404."""

    @csrf_exempt
    @login_not_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        actor = _token_actor(request)
        if actor is None:
            response = _problem(401, "Authorization: send 'Bearer <token>' (manage.py create_api_token gives one)")
            response["WWW-Authenticate"] = 'Bearer realm="carebase-cds-hooks"'
            return response
        try:
            return view(request, actor, *args, **kwargs)
        except InvalidInput as e:
            return _problem(400, str(e), errors=e.errors)
        except (Http404, m.Patient.DoesNotExist) as e:
            return _problem(404, str(e) or "not found")
        except PermissionDenied as e:
            return _problem(403, str(e) or "forbidden")

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidInput(f"body: not JSON ({e})") from None


@require_GET
@hook_endpoint
def discovery(request: HttpRequest, actor: Actor) -> HttpResponse:
    return JsonResponse(hooks.discovery())


@require_POST
@hook_endpoint
def service_call(request: HttpRequest, actor: Actor, service_id: str) -> HttpResponse:
    base_url = request.build_absolute_uri("/")
    return JsonResponse(services.hook_call(actor=actor, service_id=service_id, body=_body(request), base_url=base_url))


@require_POST
@hook_endpoint
def feedback(request: HttpRequest, actor: Actor, service_id: str) -> HttpResponse:
    recorded = services.hook_feedback(actor=actor, service_id=service_id, body=_body(request))
    return JsonResponse({"recorded": recorded})
