"""What the rules read: one patient's chart as plain items, from the database or from an EHR's prefetch.

Both sources give the same `Item`s, so a rule is evaluated the same way on Carebase's rows and on FHIR resources
an EHR sent along with a CDS Hooks call. Every item knows the row it came from (or the FHIR reference the EHR
gave), so a card cites exactly the records it rests on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clinic import models as m

ACTIVE_CONDITION = ("active", "recurrence", "relapse", "")  # FHIR requires clinicalStatus; an absent one counts as active
INACTIVE_ALLERGY = ("inactive", "resolved")
REFUTED = ("refuted", "entered-in-error")
Row = Mapping[str, Any]  # a model row as .values() gives it, or a FHIR resource as clinic.fhir.mapping maps it
SEMANTIC_TAG = re.compile(r"\s*\((disorder|finding|substance|situation|procedure|product|regime/therapy|observable entity)\)\s*$")


@dataclass(frozen=True)
class Item:
    """One coded fact of the chart: a condition, a lab value, a medication, an allergy, a vaccine, a variant…"""

    kind: str  # condition, observation, medication, allergy, immunization, procedure, imaging, report, variant, order
    system: str
    code: str
    display: str
    time: dt.datetime | None = None
    status: str = ""  # the clinical status of conditions and allergies, the status of other records
    verification: str = ""
    value: float | None = None
    unit: str = ""
    ended: dt.datetime | None = None  # a condition's abatement
    source_type: str = ""  # the timeline kind of the row cited (observation, medication, genomics, …)
    source_id: int | None = None
    reference: str = ""  # the FHIR reference, Type/id
    gene: str = ""
    significance: str = ""

    @property
    def name(self) -> str:
        """The display without SNOMED's semantic tag: 'Penicillin (substance)' -> 'Penicillin'."""
        return SEMANTIC_TAG.sub("", self.display).strip() or self.code

    def citation(self) -> dict[str, Any]:
        return {"source_type": self.source_type, "source_id": self.source_id, "reference": self.reference, "label": self.label}

    @property
    def label(self) -> str:
        when = f" ({self.time.date().isoformat()})" if self.time else ""
        value = f" {self.value:g} {self.unit}".rstrip() if self.value is not None else ""
        return f"{self.name}{value}{when}"[:300]

    def is_active(self) -> bool:
        """A condition or allergy that still holds; a medication that is being taken (or is being ordered)."""
        if self.verification in REFUTED:
            return False
        if self.kind == "condition":
            return self.status in ACTIVE_CONDITION and not (self.status == "" and self.ended)
        if self.kind == "allergy":
            return self.status not in INACTIVE_ALLERGY
        if self.kind == "medication":
            return self.status == "active"
        return True


@dataclass
class Chart:
    patient_id: int
    fhir_id: str
    birth_date: dt.date | None
    sex: str
    deceased_at: dt.datetime | None = None
    items: dict[str, list[Item]] = field(default_factory=dict)
    orders: list[Item] = field(default_factory=list)  # draft orders of an order-select call
    prefetched: list[str] = field(default_factory=list)  # the prefetch keys the EHR filled in

    def of(self, *kinds: str) -> list[Item]:
        return [item for kind in kinds for item in self.items.get(kind, [])]

    def patient_item(self, on: dt.date) -> Item:
        """The patient as a cited record: rules on age and sex rest on it."""
        age = self.age(on)
        facts = ", ".join(p for p in (f"{age} years old" if age is not None else "", self.sex) if p)
        return Item("patient", "", "", f"Patient, {facts}" if facts else "Patient", source_type="patient",
                    source_id=self.patient_id, reference=f"Patient/{self.fhir_id}")  # fmt: skip

    def age(self, on: dt.date) -> int | None:
        months = self.age_months(on)
        return None if months is None else months // 12

    def age_months(self, on: dt.date) -> int | None:
        """Completed months ('from 6 months of age'); their // 12 is the completed years of clinic.dates.age_on."""
        if self.birth_date is None:
            return None
        end = min(on, self.deceased_at.date()) if self.deceased_at else on
        born = self.birth_date
        return max(0, (end.year - born.year) * 12 + end.month - born.month - (end.day < born.day))


LOADERS: dict[str, Any] = {
    "condition": lambda p: [condition_item(row) for row in m.Condition.objects.filter(patient=p).values()],
    "observation": lambda p: [i for row in m.Observation.objects.filter(patient=p).values() for i in observation_items(row)],
    "medication": lambda p: [medication_item(row) for row in m.MedicationRequest.objects.filter(patient=p).values()],
    "allergy": lambda p: [allergy_item(row) for row in m.AllergyIntolerance.objects.filter(patient=p).values()],
    "immunization": lambda p: [immunization_item(row) for row in m.Immunization.objects.filter(patient=p).values()],
    "procedure": lambda p: [procedure_item(row) for row in m.Procedure.objects.filter(patient=p).values()],
    "imaging": lambda p: [imaging_item(row) for row in m.ImagingStudy.objects.filter(patient=p).values()],
    "report": lambda p: [report_item(row) for row in m.DiagnosticReport.objects.filter(patient=p).values()],
    "variant": lambda p: [variant_item(v) for v in m.GenomicVariant.objects.filter(patient=p).select_related("report")],
}


def chart_from_database(*, patient: m.Patient, skip: frozenset[str] = frozenset()) -> Chart:
    """The patient's coded records as items, but for the kinds in `skip` (an EHR sent those). A chart holds a few
    thousand rows at most: read whole, filtered in Python by the evaluators."""
    chart = Chart(patient.pk, patient.fhir_id, patient.birth_date, patient.sex, patient.deceased_at)
    chart.items = {kind: load(patient) for kind, load in LOADERS.items() if kind not in skip}
    return chart


def _coded(row: Row) -> dict[str, Any]:
    return {"system": row.get("code_system", ""), "code": row.get("code", ""), "display": row.get("display", "")}


def _source(kind: str, row: Row, resource_type: str) -> dict[str, Any]:
    fhir_id = row.get("fhir_id") or ""
    return {"source_type": kind, "source_id": row.get("id"), "reference": f"{resource_type}/{fhir_id}" if fhir_id else ""}


def condition_item(row: Row) -> Item:
    return Item(
        "condition",
        **_coded(row),
        time=row.get("onset") or row.get("recorded"),
        status=row.get("clinical_status", ""),
        verification=row.get("verification_status", ""),
        ended=row.get("abatement"),
        **_source("condition", row, "Condition"),
    )


def observation_items(row: Row) -> list[Item]:
    """The observation's own value, and each panel component's (citing the panel)."""
    source = _source("observation", row, "Observation")
    time, status = row.get("effective"), row.get("status", "")
    items = [
        Item("observation", **_coded(row), time=time, status=status, value=row.get("value"), unit=row.get("unit", ""), **source)
    ]
    for comp in row.get("components") or []:
        if comp.get("value") is not None:
            coded: dict[str, Any] = {"system": "", "code": str(comp.get("code") or ""), "display": str(comp.get("display") or "")}
            items.append(Item("observation", **coded, time=time, status=status, value=float(comp["value"]), unit=str(comp.get("unit") or ""), **source))  # fmt: skip
    return items


def medication_item(row: Row) -> Item:
    source = _source("medication", row, "MedicationRequest")
    return Item("medication", **_coded(row), time=row.get("authored_on"), status=row.get("status", ""), **source)


def allergy_item(row: Row) -> Item:
    return Item(
        "allergy",
        **_coded(row),
        time=row.get("recorded"),
        status=row.get("clinical_status", ""),
        verification=row.get("verification_status", ""),
        **_source("allergy", row, "AllergyIntolerance"),
    )


def immunization_item(row: Row) -> Item:
    source = _source("immunization", row, "Immunization")
    return Item("immunization", **_coded(row), time=row.get("occurrence"), status=row.get("status", ""), **source)


def procedure_item(row: Row) -> Item:
    source = _source("procedure", row, "Procedure")
    return Item("procedure", **_coded(row), time=row.get("performed_start"), status=row.get("status", ""), **source)


def imaging_item(row: Row) -> Item:
    coded = {
        "system": row.get("code_system", ""),
        "code": row.get("code", ""),
        "display": row.get("description") or row.get("display", ""),
    }
    return Item(
        "imaging", **coded, time=row.get("started"), status=row.get("status", ""), **_source("imaging", row, "ImagingStudy")
    )


def report_item(row: Row) -> Item:
    source = _source("report", row, "DiagnosticReport")
    return Item("report", **_coded(row), time=row.get("effective"), status=row.get("status", ""), **source)


def variant_item(variant: m.GenomicVariant) -> Item:
    """A variant cites its genomic report (the timeline's unit for a VCF), as the assistant's variant facts do."""
    hgvs = variant.hgvs or f"{variant.chrom}:{variant.pos} {variant.ref}>{variant.alt}"
    return Item(
        "variant",
        system="HGNC",
        code=variant.gene,
        display=f"{variant.gene} {hgvs}".strip(),
        time=variant.report.imported_at,
        gene=variant.gene,
        significance=variant.significance,
        source_type="genomics",
        source_id=variant.report_id,
    )
