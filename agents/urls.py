from __future__ import annotations

from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("patients/<int:patient_id>/", views.panel, name="panel"),
    path("patients/<int:patient_id>/ask/", views.ask, name="ask"),
    path("patients/<int:patient_id>/drafts/", views.draft_create, name="draft_create"),
    path("asks/<int:exchange_id>/", views.exchange_detail, name="exchange_detail"),
    path("drafts/<int:draft_id>/", views.draft_detail, name="draft_detail"),
    path("drafts/<int:draft_id>/edit/", views.draft_edit, name="draft_edit"),
    path("drafts/<int:draft_id>/sign/", views.draft_sign, name="draft_sign"),
    path("drafts/<int:draft_id>/retry/", views.draft_retry, name="draft_retry"),
    path("feedback/", views.feedback, name="feedback"),
    path("quality/", views.quality_page, name="quality"),
]
