"""Timeline rows derived from clinical rows: one dated event per thing a clinician would look for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from clinic import models as m
from clinic.bulk import upsert

Kind = m.TimelineEvent.Kind


def _first_line(text: str, limit: int = 200) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line and not line[:4].isdigit():
            return line[:limit]
    return ""


def _encounter(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    title = row["type_display"] or row["class_code"] or "Encounter"
    return row["start"], title, row["reason_display"], ""


def _observation(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    obs = m.Observation(**{k: v for k, v in row.items() if k in _OBS_FIELDS})
    return row["effective"], row["display"] or row["code"], obs.value_display(), obs.flag


_OBS_FIELDS = {"value", "unit", "value_text", "components", "interpretation", "ref_low", "ref_high"}


def _simple(time_field: str, summary: str | None = None) -> Any:
    def derive(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
        return row[time_field], row.get("display") or row.get("code") or "", str(row.get(summary, "")) if summary else "", ""

    return derive


def _medication(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    summary = " · ".join(p for p in (row["status"], row["dosage_text"]) if p)
    return row["authored_on"], row["display"], summary, ""


def _allergy(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    reactions = ", ".join(r["manifestation"] for r in row["reactions"] if r.get("manifestation"))
    summary = " · ".join(p for p in (row["criticality"] and f"criticality {row['criticality']}", reactions) if p)
    return row["recorded"], f"Allergy: {row['display']}", summary, "!" if row["criticality"] == "high" else ""


def _report(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    return row["effective"], row["display"] or "Report", _first_line(row["conclusion"] or row["text"]), ""


def _careplan(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    title = row["display"] or row["category"] or "Care plan"
    return row["period_start"], f"Care plan: {title}", row["status"], ""


def _note(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    return row["date"], row["title"] or row["display"] or "Note", _first_line(row["text"]), ""


def _imaging(row: dict[str, Any]) -> tuple[dt.datetime | None, str, str, str]:
    summary = f"{row['modalities']} · {row['num_series']} series, {row['num_instances']} images"
    return row["started"], row["description"] or "Imaging study", summary, ""


DERIVE: dict[type, tuple[m.TimelineEvent.Kind, Any]] = {
    m.Encounter: (Kind.ENCOUNTER, _encounter),
    m.Condition: (Kind.CONDITION, lambda r: (r["onset"] or r["recorded"], r["display"], r["clinical_status"], "")),
    m.Observation: (Kind.OBSERVATION, _observation),
    m.MedicationRequest: (Kind.MEDICATION, _medication),
    m.AllergyIntolerance: (Kind.ALLERGY, _allergy),
    m.Procedure: (Kind.PROCEDURE, _simple("performed_start", "reason_display")),
    m.Immunization: (Kind.IMMUNIZATION, _simple("occurrence", "status")),
    m.DiagnosticReport: (Kind.REPORT, _report),
    m.CarePlan: (Kind.CAREPLAN, _careplan),
    m.ClinicalNote: (Kind.NOTE, _note),
    m.ImagingStudy: (Kind.IMAGING, _imaging),
}

KIND_MODELS: dict[str, Any] = {kind: model for model, (kind, _) in DERIVE.items()}
KIND_MODELS[Kind.GENOMICS] = m.GenomicReport


def timeline_event(model: type, pk: int, row: dict[str, Any]) -> dict[str, Any] | None:
    """The timeline row (field values) for one clinical row as written, or None when it has no date."""
    kind, derive = DERIVE[model]
    time, title, summary, flag = derive(row)
    if time is None:
        return None
    return {
        "patient_id": row["patient_id"],
        "time": time,
        "kind": kind.value,
        "title": (title or kind.label)[:500],
        "summary": (summary or "")[:500],
        "flag": (flag or "")[:8],
        "encounter_id": pk if model is m.Encounter else row.get("encounter_id"),
        "source_id": pk,
    }


def timeline_upsert(events: list[dict[str, Any]] | list[m.TimelineEvent]) -> None:
    """Insert or refresh timeline rows (dicts of field values, or unsaved TimelineEvent instances)."""
    rows = [
        {f.attname: getattr(e, f.attname) for f in m.TimelineEvent._meta.concrete_fields if not f.primary_key}
        if isinstance(e, m.TimelineEvent)
        else e
        for e in events
    ]
    upsert(m.TimelineEvent, rows, unique=["kind", "source_id"])


def timeline_event_for(obj: Any) -> dict[str, Any] | None:
    """The timeline row for a saved model instance (DICOM and signed-note paths, one row at a time)."""
    row = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    return timeline_event(type(obj), obj.pk, row)
