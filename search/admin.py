"""The search index in the stewards' admin: chunks, index status and re-index, knowledge documents and upload.

Rows here are written by services (chunking, embedding, import), never by hand: a knowledge document edited
in a form would not be re-chunked, so a correction is an upload of the corrected file.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path

from clinic.admin import PatientDataAdmin, ReadOnlyAdmin
from search import admin_views
from search.models import Chunk, KnowledgeDocument


@admin.register(Chunk)
class ChunkAdmin(PatientDataAdmin):
    change_list_template = "admin/search/chunk/change_list.html"
    list_display = ("source_type", "source_id", "ordinal", "section", "title", "patient", "negated", "created_at")
    list_filter = ["source_type", "negated", "uncertain", "other_subject"]
    search_fields = ["source_id", "title", "section"]
    raw_id_fields = ["patient"]
    exclude = ("search_vector",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chunk]:
        """Knowledge chunks for stewards; the chunks of charts (patient data) only for a superuser, audited."""
        chunks = super().get_queryset(request)
        return chunks if request.user.is_superuser else chunks.filter(patient__isnull=True)

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site
        return [
            path("status/", site.admin_view(admin_views.index_status_view), name="search_chunk_status"),
            path("status/reindex/", site.admin_view(admin_views.index_requeue_view), name="search_chunk_reindex"),
            *super().get_urls(),
        ]


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(ReadOnlyAdmin):
    change_list_template = "admin/search/knowledgedocument/change_list.html"
    list_display = ("doc_id", "title", "source", "url", "imported_at")
    list_filter = ["source"]
    search_fields = ["doc_id", "title", "source"]
    date_hierarchy = "imported_at"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(admin_views.knowledge_upload_view)
        return [path("upload/", view, name="search_knowledgedocument_upload"), *super().get_urls()]
