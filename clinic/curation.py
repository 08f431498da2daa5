"""Dataset curation: a cohort, the content wanted and a purpose → de-identified JSONL plus a data card.

The output is reproducible: patients in FHIR-id order, one record each, de-identified with a secret derived
from DEID_SECRET and the dataset's seed, so the same data, criteria and seed give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinic import models as m
from clinic.access import Actor
from clinic.audit import Action, audit
from clinic.dates import years_before
from clinic.deid import Deidentifier, age_band, deid_secret, deidentifier_for
from clinic.errors import InvalidInput

FORMAT_VERSION = 1


def dataset_create(
    *,
    name: str,
    purpose: str = m.Dataset.Purpose.PRETRAINING,
    content: list[str],
    criteria: dict[str, Any] | None = None,
    seed: int = 0,
    user: Any = None,
) -> m.Dataset:
    """Validate and record a dataset request (building it is `dataset_build`)."""
    criteria = criteria or {}
    problems = []
    if purpose not in m.Dataset.Purpose.values:
        problems.append({"field": "purpose", "message": f"use one of {', '.join(m.Dataset.Purpose.values)}"})
    unknown = sorted(set(content) - set(m.Dataset.CONTENT_CHOICES))
    if not content or unknown:
        problems.append({"field": "content", "message": f"choose from {', '.join(m.Dataset.CONTENT_CHOICES)}"})
    unknown_criteria = sorted(set(criteria) - {"condition_code", "sex", "age_min", "age_max"})
    if unknown_criteria:
        problems.append({"field": "criteria", "message": f"unknown criteria {', '.join(unknown_criteria)}"})
    if m.Dataset.objects.filter(name=name).exists():
        problems.append({"field": "name", "message": f"a dataset named {name!r} exists; pick another name"})
    if problems:
        raise InvalidInput("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)
    with transaction.atomic():
        dataset = m.Dataset.objects.create(
            name=name, purpose=purpose, content=content, criteria=criteria, seed=seed, created_by=user
        )
        actor = Actor(user=user, channel="cli" if user is None else "admin")
        audit(actor=actor, action=Action.DATASET_CREATE, target=name, detail={"criteria": criteria})
    return dataset


def dataset_cohort(*, criteria: dict[str, Any]) -> QuerySet[m.Patient]:
    patients = m.Patient.objects.all()
    if criteria.get("condition_code"):
        patients = patients.filter(conditions__code=str(criteria["condition_code"]))
    if criteria.get("sex"):
        patients = patients.filter(sex=criteria["sex"])
    today = timezone.localdate()
    if criteria.get("age_min") is not None:
        patients = patients.filter(birth_date__lte=years_before(day=today, years=int(criteria["age_min"])))
    if criteria.get("age_max") is not None:
        patients = patients.filter(birth_date__gt=years_before(day=today, years=int(criteria["age_max"]) + 1))
    return patients.distinct().order_by("fhir_id")


def dataset_build(*, dataset_id: int) -> m.Dataset | None:
    """Write the dataset's JSONL and data card. Idempotent: rebuilding gives the same bytes."""
    dataset = m.Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        return None
    m.Dataset.objects.filter(pk=dataset.pk).update(status=m.Dataset.Status.BUILDING, error="")
    secret = deid_secret(salt=str(dataset.seed))
    out_dir = Path(settings.MEDIA_ROOT) / "datasets"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dataset.name}.jsonl"
    digest = hashlib.sha256()
    patients = records = 0
    with path.open("wb") as out:
        for patient in dataset_cohort(criteria=dataset.criteria).iterator():
            for record in _patient_records(dataset, patient, secret):
                line = orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"
                out.write(line)
                digest.update(line)
                records += 1
            patients += 1
    card = _data_card(dataset, patients, records, digest.hexdigest())
    (out_dir / f"{dataset.name}.card.json").write_bytes(orjson.dumps(card, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    with transaction.atomic():
        m.Dataset.objects.filter(pk=dataset.pk).update(
            status=m.Dataset.Status.READY,
            built_at=timezone.now(),
            file=str(path.relative_to(settings.MEDIA_ROOT)),
            sha256=digest.hexdigest(),
            patients=patients,
            records=records,
            card=card,
        )
        actor = Actor(user=dataset.created_by, channel="worker")
        audit(actor=actor, action=Action.DATASET_BUILD, target=dataset.name, detail={"patients": patients})
    return m.Dataset.objects.get(pk=dataset.pk)


def _patient_records(dataset: m.Dataset, patient: m.Patient, secret: str) -> list[dict[str, Any]]:
    deid = deidentifier_for(patient=patient, secret=secret)
    chart = _chart(dataset.content, patient, deid)
    base = {"patient": deid.pseudonym, "sex": patient.sex, "age_band": age_band(patient.age()), "format": FORMAT_VERSION}
    if dataset.purpose == m.Dataset.Purpose.PRETRAINING:
        notes = chart.pop("notes", [])
        docs = [{**base, "kind": "note", "date": n["date"], "title": n["title"], "text": n["text"]} for n in notes]
        return docs + ([{**base, "kind": "chart", **chart}] if chart else [])
    if dataset.purpose == m.Dataset.Purpose.FINETUNING:
        notes = chart.pop("notes", [])
        return [{**base, "kind": "pair", "input": chart, "target": note["text"], "target_title": note["title"]} for note in notes]
    return [{**base, "kind": "chart", **chart}]


def _chart(content: list[str], patient: m.Patient, deid: Deidentifier) -> dict[str, Any]:
    def day(value: dt.datetime | None) -> str | None:
        shifted = deid.shift(value)
        return shifted.date().isoformat() if isinstance(shifted, dt.datetime) else None

    chart: dict[str, Any] = {}
    if "problems" in content:
        chart["problems"] = [
            {"code": c.code, "display": c.display, "status": c.clinical_status, "onset": day(c.onset)}
            for c in m.Condition.objects.filter(patient=patient).order_by("onset", "id")
        ]
    if "medications" in content:
        chart["medications"] = [
            {"code": r.code, "display": r.display, "status": r.status, "start": day(r.authored_on)}
            for r in m.MedicationRequest.objects.filter(patient=patient).order_by("authored_on", "id")
        ]
    if "allergies" in content:
        chart["allergies"] = [
            {"code": a.code, "display": a.display} for a in m.AllergyIntolerance.objects.filter(patient=patient).order_by("id")
        ]
    if "labs" in content:
        chart["labs"] = [
            {"code": o.code, "display": o.display, "value": o.value, "unit": o.unit, "flag": o.flag, "date": day(o.effective)}
            for o in m.Observation.objects.filter(patient=patient).exclude(value=None).order_by("effective", "id")
        ]
    if "encounters" in content:
        chart["encounters"] = [
            {"type": e.type_display, "class": e.class_code, "reason": e.reason_display, "start": day(e.start)}
            for e in m.Encounter.objects.filter(patient=patient).order_by("start", "id")
        ]
    if "notes" in content:
        chart["notes"] = [
            {"date": day(n.date), "title": n.title, "text": deid.text(n.text)}
            for n in m.ClinicalNote.objects.filter(patient=patient).exclude(text="").order_by("date", "id")
        ]
    return chart


def _data_card(dataset: m.Dataset, patients: int, records: int, sha256: str) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "purpose": dataset.get_purpose_display(),
        "content": dataset.content,
        "cohort_criteria": dataset.criteria,
        "seed": dataset.seed,
        "patients": patients,
        "records": records,
        "sha256": sha256,
        "format_version": FORMAT_VERSION,
        "de_identification": [
            "names (the record's and any found in text), MRN, FHIR ids and other record numbers replaced by tags",
            "phones, faxes, e-mail addresses, URLs, IPs, SSNs, street addresses, cities and organisations replaced by tags",
            "ZIP codes cut to their first three digits (000 for the 17 small Safe Harbor areas)",
            "every date shifted by one per-patient offset of 1-365 days back (intervals kept); years alone kept",
            "ages over 89 written >89 in text and 90+ as age band; patients identified by a keyed pseudonym",
            "engine and figures: docs/deid.md",
        ],
        "source": "Carebase clinical data ecosystem",
        "intended_use": "training and evaluating clinical language models inside the institution",
    }
