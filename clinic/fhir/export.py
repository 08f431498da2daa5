"""FHIR out: single resources and Patient/$everything, as imported (ids kept, references as `Type/id`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from clinic import models as m
from clinic.fhir.mapping import MAPPERS

PATIENT_SCOPED = [rtype for rtype, (model, _) in MAPPERS.items() if "patient" in {f.name for f in model._meta.fields}]


def resource_get(*, resource_type: str, fhir_id: str) -> dict[str, Any] | None:
    if resource_type not in MAPPERS:
        return None
    model = MAPPERS[resource_type][0]
    raw = model._default_manager.filter(fhir_id=fhir_id).values_list("raw", flat=True).first()
    return raw if raw else None


def resource_patient_id(*, resource_type: str, fhir_id: str) -> int | None:
    """The patient a stored resource belongs to (the Patient itself for a Patient), None for shared resources
    such as Practitioner and Organization."""
    if resource_type == "Patient":
        return m.Patient.objects.filter(fhir_id=fhir_id).values_list("pk", flat=True).first()
    if resource_type not in PATIENT_SCOPED:
        return None
    model = MAPPERS[resource_type][0]
    return model._default_manager.filter(fhir_id=fhir_id).values_list("patient_id", flat=True).first()


def patient_everything(*, patient: m.Patient) -> dict[str, Any]:
    """A searchset Bundle of everything held for one patient: re-importing it lands on the same rows."""
    entries, total = everything_page(patient=patient)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "timestamp": timezone.now().isoformat(),
        "total": total,
        "entry": entries,
    }


@dataclass(frozen=True)
class _Section:
    """One kind of resource in $everything: its rows, in a stable order, and how a slice of them becomes resources."""

    rows: QuerySet[Any]
    render: Callable[[QuerySet[Any]], list[dict[str, Any]]]


def everything_page(
    *, patient: m.Patient, since: dt.datetime | None = None, offset: int = 0, count: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page (`offset`, `count`; None: all) of a patient's $everything and the total: the Patient, their
    resources type by type, the practitioners and organizations of their encounters, their variants. `since`: only
    what changed since then."""
    sections = _everything_sections(patient, since)
    sizes = [section.rows.count() for section in sections]
    entries: list[dict[str, Any]] = []
    wanted = sum(sizes) if count is None else count
    for section, size in zip(sections, sizes, strict=True):
        if offset >= size:
            offset -= size
            continue
        if len(entries) >= wanted:
            break
        chunk = section.rows[offset : offset + wanted - len(entries)]
        entries.extend(_entry(resource["resourceType"], resource) for resource in section.render(chunk))
        offset = 0
    return entries, sum(sizes)


def _raws(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    return list(rows.values_list("raw", flat=True))


def _everything_sections(patient: m.Patient, since: dt.datetime | None) -> list[_Section]:
    def changed(rows: QuerySet[Any], column: str = "updated_at") -> QuerySet[Any]:
        return rows.filter(**{f"{column}__gte": since}) if since else rows

    sections = [_Section(changed(m.Patient.objects.filter(pk=patient.pk)), lambda rows: [_patient_resource(p) for p in rows])]
    for rtype in PATIENT_SCOPED:
        model = MAPPERS[rtype][0]
        rows = changed(model._default_manager.filter(patient=patient)).order_by("id")
        if rtype == "ImagingStudy":
            sections.append(
                _Section(
                    rows,
                    lambda studies: [s.raw or imaging_study_resource(s, patient) for s in studies.prefetch_related("series")],
                )
            )
        else:
            sections.append(_Section(rows.exclude(raw={}), _raws))
    encounters = m.Encounter.objects.filter(patient=patient)
    for model, column in ((m.Practitioner, "practitioner_id"), (m.Organization, "organization_id")):
        rows = model._default_manager.filter(id__in=encounters.exclude(**{column: None}).values(column))
        sections.append(_Section(changed(rows).exclude(raw={}).order_by("id"), _raws))
    variants = changed(m.GenomicVariant.objects.filter(patient=patient), "report__imported_at").order_by("id")
    sections.append(_Section(variants, lambda rows: variant_observations(rows, patient)))
    return sections


def _patient_resource(patient: m.Patient) -> dict[str, Any]:
    return patient.raw or {"resourceType": "Patient", "id": patient.fhir_id}


def _entry(rtype: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{rtype}/{resource.get('id')}", "resource": resource, "search": {"mode": "match"}}


def imaging_study_resource(study: m.ImagingStudy, patient: m.Patient) -> dict[str, Any]:
    """An ImagingStudy resource for a study known only from its DICOM files."""
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": study.fhir_id,
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_uid}"}] if study.study_uid else [],
        "status": study.status or "available",
        "subject": {"reference": f"Patient/{patient.fhir_id}"},
        "numberOfSeries": study.num_series,
        "numberOfInstances": study.num_instances,
        "series": [
            {
                "uid": series.series_uid,
                "number": series.number,
                "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": series.modality},
                "description": series.description,
                "numberOfInstances": series.num_instances,
                **({"bodySite": {"display": series.body_part}} if series.body_part else {}),
            }
            for series in study.series.all()
        ],
    }
    if study.started:
        resource["started"] = study.started.isoformat()
    if study.description:
        resource["description"] = study.description
    if study.modalities:
        resource["modality"] = [
            {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": c.strip()} for c in study.modalities.split(",")
        ]
    return resource


def variant_observations(variants: Iterable[m.GenomicVariant], patient: m.Patient) -> list[dict[str, Any]]:
    """Genomic variants as FHIR genomics-reporting Observations (variant profile)."""
    result = []
    for v in variants:
        components = [
            _component("48013-7", "Genomic reference sequence identifier", {"valueString": v.assembly}),
            _component("81252-9", "Discrete genetic variant", {"valueString": f"{v.chrom}:{v.pos} {v.ref}>{v.alt}"}),
            _component("53034-5", "Allelic state", {"valueString": v.zygosity or v.genotype}),
        ]
        if v.gene:
            components.append(_component("48018-6", "Gene studied [ID]", {"valueString": v.gene}))
        if v.significance:
            components.append(_component("53037-8", "Genetic variation clinical significance", {"valueString": v.significance}))
        if v.hgvs:
            components.append(_component("48004-6", "DNA change (c.HGVS)", {"valueString": v.hgvs}))
        result.append(
            {
                "resourceType": "Observation",
                "id": f"variant-{v.pk}",
                "meta": {"profile": ["http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/variant"]},
                "status": "final",
                "category": [
                    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
                ],
                "code": {"coding": [{"system": "http://loinc.org", "code": "69548-6", "display": "Genetic variant assessment"}]},
                "subject": {"reference": f"Patient/{patient.fhir_id}"},
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA9633-4", "display": "Present"}]},
                "component": components,
            }
        )
    return result


def _component(code: str, display: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]}, **value}
