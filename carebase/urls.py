from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from carebase.api import api


def _api_urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """The REST API authenticates each call itself (bearer token or session) and answers 401, not a redirect."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(pattern.callback)  # type: ignore[type-var]
    return patterns, app_name, namespace


urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", _api_urls()),
    path("search/", include("search.urls")),
    path("assistant/", include("agents.urls")),
    path("audit/", include("clinic.urls_audit")),
    path("", include("cds.urls")),  # CDS Hooks at /cds-services, the patient page's cards at /cds/
    path("", include("clinic.urls")),
]

# Patient media (DICOM previews, datasets) is served only through views that check access; there is no /media/.
handler403 = "clinic.views.chart.forbidden"
