from __future__ import annotations

from django.urls import path, re_path

from cds import api, views

app_name = "cds"
urlpatterns = [
    re_path(r"^cds-services/?$", api.discovery, name="discovery"),
    re_path(r"^cds-services/(?P<service_id>[\w.-]+)/feedback/?$", api.feedback, name="feedback"),
    re_path(r"^cds-services/(?P<service_id>[\w.-]+)/?$", api.service_call, name="service"),
    path("cds/patients/<int:patient_id>/cards/", views.patient_cards, name="patient_cards"),
    path("cds/cards/<uuid:card_uuid>/decision/", views.card_decision, name="card_decision"),
]
