"""Researchers' page of ready datasets: each one's card and a download (a zip of its folder, streamed, audited)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render

from clinic.access import Actor, request_actor, require_perm
from clinic.audit import Action, audit
from clinic.curation.read import dataset_zip, datasets_ready


def _downloader(request: HttpRequest) -> Actor:
    actor = request_actor(request)
    require_perm(actor=actor, perm="clinic.download_dataset", what="downloading de-identified datasets")
    return actor


def dataset_list(request: HttpRequest) -> HttpResponse:
    _downloader(request)
    return render(request, "clinic/datasets.html", {"datasets": list(datasets_ready())})


def dataset_download(request: HttpRequest, name: str) -> StreamingHttpResponse:
    actor = _downloader(request)
    dataset = get_object_or_404(datasets_ready(), name=name)
    audit(actor=actor, action=Action.DATASET_DOWNLOAD, target=dataset.name, detail={"sha256": dataset.sha256})
    response = StreamingHttpResponse(dataset_zip(dataset=dataset), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{dataset.name}.zip"'
    return response
