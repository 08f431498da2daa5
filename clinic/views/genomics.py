"""Clinician page for genomics: the patient's variant panel, actionable variants first."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from clinic import genomics
from clinic.access import request_actor
from clinic.audit import Action, audit
from clinic.views.chart import chart_or_403


def genomics_panel(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The variants panel at a real URL (the patient page loads it from here): actionable first, then the rest."""
    patient = chart_or_403(request, patient_id)
    significance = request.GET.get("significance", "")[:100]
    gene = request.GET.get("gene", "").strip()[:100]
    panel = genomics.variant_panel(patient=patient, significance=significance, gene=gene)
    audit(
        actor=request_actor(request),
        action=Action.VARIANTS_VIEW,
        patient=patient,
        detail={"significance": significance, "gene": gene},
    )
    context = {"patient": patient, "panel": True, "significance": significance, "gene": gene, **panel}
    return render(request, "clinic/_genomics_panel.html", context)
