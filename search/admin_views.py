"""Stewards' pages in the admin: index status with the re-index button, and knowledge document upload."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST
from kombu.utils.url import maybe_sanitize_url

from carebase.health import readiness
from carebase.jobs import jobs_taken, queue_lengths
from clinic.access import request_actor
from search import services
from search.documents import SUFFIXES
from search.embedding import configured_model
from search.models import ChunkEmbedding, IndexState, KnowledgeDocument
from search.selectors import index_status


def _models() -> list[dict[str, Any]]:
    """The serving model and the one being built, each with its vector dimension where known."""
    state = IndexState.current()
    rows = [{"role": "active", "name": state.active_model, "dimension": state.active_dimension or None}]
    if state.target_model:
        dim = ChunkEmbedding.objects.filter(model=state.target_model).values_list("dimension", flat=True).first()
        rows.append({"role": "target", "name": state.target_model, "dimension": dim})
    return rows


def index_status_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("search.view_indexstate"):
        raise PermissionDenied("the index status needs the 'view index state' permission (stewards have it)")
    queues = queue_lengths()
    context = {
        **admin.site.each_context(request),
        "title": "Search index status",
        "status": index_status(),
        "models": _models(),
        "configured_model": configured_model()[0],
        "queues": queues,
        "taken": jobs_taken() if queues is not None else None,  # no second wait for a Redis that did not answer
        "visibility_timeout": settings.JOB_VISIBILITY_TIMEOUT,
        "broker": maybe_sanitize_url(settings.CELERY_BROKER_URL),
        "knowledge_documents": KnowledgeDocument.objects.count(),
        "readiness": readiness(fresh=True),  # what /readyz tells the load balancer
    }
    return TemplateResponse(request, "admin/search/index_status.html", context)


@require_POST
def index_requeue_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("search.change_indexstate"):
        raise PermissionDenied("re-indexing needs the 'change index state' permission (stewards have it)")
    new, queued = services.index_requeue(actor=request_actor(request))
    messages.success(request, f"{new} new chunks; {queued} chunks queued for embedding.")
    return redirect("admin:search_chunk_status")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or several files (Django's documented pattern for `<input type=file multiple>`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(SUFFIXES)}))
        kwargs.setdefault("allow_empty_file", True)  # the service rejects an empty file by name, the others import
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        files = list(data) if isinstance(data, list | tuple) else [data]
        return [single(f, initial) for f in files or [None]]  # no file at all: the "required" error


class KnowledgeUploadForm(forms.Form):
    documents = MultipleFileField(help_text="Markdown (.md), text (.txt) or PDF (.pdf); one document per file.")
    source = forms.CharField(max_length=200, required=False, help_text="e.g. 'hospital guidelines 2025'")
    url = forms.URLField(max_length=1000, required=False, assume_scheme="https")


def knowledge_upload_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("search.add_knowledgedocument"):
        messages.error(request, "Uploading documents needs the 'add knowledge document' permission.")
        return redirect("admin:search_knowledgedocument_changelist")
    form = KnowledgeUploadForm(*((request.POST, request.FILES) if request.method == "POST" else ()))
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        files = [(f.name, f.read()) for f in data["documents"]]
        result = services.knowledge_upload(files=files, source=data["source"], url=data["url"], actor=request_actor(request))
        if result.documents:
            messages.success(
                request, f"Imported {len(result.documents)} document(s): {', '.join(result.documents)}; indexing queued."
            )
        if result.queued:
            messages.info(
                request, f"{len(result.queued)} large PDF(s) are read on the worker: see ingestion run #{result.queued_run}."
            )
        if not result.rejected:
            return redirect("admin:search_knowledgedocument_changelist")
        form.add_error("documents", [f"Rejected {message}; nothing from it was stored." for message in result.rejected])
    opts = KnowledgeDocument._meta
    context = {**admin.site.each_context(request), "opts": opts, "form": form, "title": "Upload knowledge documents"}
    return TemplateResponse(request, "admin/search/knowledgedocument/upload.html", context, status=400 if form.errors else 200)
