"""Reads over stored variants: a patient's, actionable first; the genomics panel; a patient a command names."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

from clinic import models as m
from clinic.errors import InvalidInput


def patient_variants(*, patient: m.Patient, significance: str = "", gene: str = "") -> QuerySet[m.GenomicVariant]:
    """A patient's variants, actionable (pathogenic / likely pathogenic) first, then by position."""
    rows = m.GenomicVariant.objects.filter(patient=patient)
    if significance:
        rows = rows.filter(significance__icontains=significance)
    if gene:
        rows = rows.filter(gene__iexact=gene)
    actionable = Case(
        When(significance__icontains="conflicting", then=Value(1)),
        When(significance__icontains="pathogenic", then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return rows.annotate(rank=actionable).order_by("rank", "chrom", "pos", "id")


def patient_resolve(*, ident: str) -> m.Patient:
    """The patient a command names by FHIR id, MRN or numeric id; InvalidInput when none or several match."""
    for lookup in ({"fhir_id": ident}, {"mrn": ident}):
        found = list(m.Patient.objects.filter(**lookup)[:2])
        if len(found) == 1:
            return found[0]
    if ident.isdigit() and (by_pk := m.Patient.objects.filter(pk=int(ident)).first()):
        return by_pk
    raise InvalidInput(f"--patient {ident}: no patient with that FHIR id, MRN or id")


def variant_panel(*, patient: m.Patient, significance: str = "", gene: str = "", limit: int = 300) -> dict[str, Any]:
    """What the genomics panel shows: reports, all actionable variants, then a filtered page of the others."""
    rows = m.GenomicVariant.objects.filter(patient=patient)
    actionable = [v for v in rows.filter(significance__icontains="pathogenic").order_by("gene", "pos") if v.is_actionable]
    others = patient_variants(patient=patient, significance=significance, gene=gene).exclude(pk__in=[v.pk for v in actionable])
    choices = sorted(set(rows.exclude(significance="").values_list("significance", flat=True)))
    page = list(others[: limit + 1])
    return {
        "reports": list(patient.genomic_reports.order_by("-imported_at")),
        "actionable": actionable,
        "others": page[:limit],
        "more": len(page) > limit,
        "others_count": others.count() if len(page) > limit else len(page),
        "significance_choices": choices,
    }
