"""FHIR out: single resources and Patient/$everything, as imported (ids kept, references as `Type/id`)."""

from __future__ import annotations

import uuid
from typing import Any

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
    entries = [_entry("Patient", patient.raw or {"resourceType": "Patient", "id": patient.fhir_id})]
    referenced: dict[str, set[int]] = {"Practitioner": set(), "Organization": set()}
    for rtype in PATIENT_SCOPED:
        model = MAPPERS[rtype][0]
        rows = model._default_manager.filter(patient=patient).order_by("id")
        if rtype == "ImagingStudy":
            entries.extend(
                _entry(rtype, study.raw or _imaging_study(study, patient)) for study in rows.prefetch_related("series")
            )
            continue
        for raw in rows.values_list("raw", flat=True):
            if raw:
                entries.append(_entry(rtype, raw))
        if rtype == "Encounter":
            referenced["Practitioner"].update(rows.exclude(practitioner=None).values_list("practitioner_id", flat=True))
            referenced["Organization"].update(rows.exclude(organization=None).values_list("organization_id", flat=True))
    for rtype, ids in referenced.items():
        for raw in MAPPERS[rtype][0]._default_manager.filter(id__in=ids).values_list("raw", flat=True):
            if raw:
                entries.append(_entry(rtype, raw))
    entries.extend(_entry("Observation", obs) for obs in _variant_observations(patient))
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "timestamp": timezone.now().isoformat(),
        "total": len(entries),
        "entry": entries,
    }


def _entry(rtype: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{rtype}/{resource.get('id')}", "resource": resource, "search": {"mode": "match"}}


def _imaging_study(study: m.ImagingStudy, patient: m.Patient) -> dict[str, Any]:
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


def _variant_observations(patient: m.Patient) -> list[dict[str, Any]]:
    """Genomic variants as FHIR genomics-reporting Observations (variant profile)."""
    result = []
    for v in m.GenomicVariant.objects.filter(patient=patient).order_by("id"):
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
