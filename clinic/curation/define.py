"""A dataset's definition: validated and recorded (dataset_create), its cohort, and a build queued for the worker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from carebase.jobs import enqueue
from clinic import models as m
from clinic.access import Actor, require_perm
from clinic.audit import Action, audit
from clinic.curation.registry import content_kinds, registered_content
from clinic.dates import years_before
from clinic.errors import InvalidInput

CRITERIA = ("condition_code", "sex", "age_min", "age_max")
CHART_KINDS = ("problems", "medications", "allergies", "labs", "encounters")
DOCUMENT_KINDS = ("notes", "signed_notes", "reports")
FILE_KINDS = ("imaging", "variants")


def definition_problems(
    *, purpose: str, content: list[str], criteria: dict[str, Any], name: str, min_cell: int
) -> list[dict[str, str]]:
    """What is wrong with a dataset's definition, by field (empty when nothing is)."""
    problems = []
    if purpose not in m.Dataset.Purpose.values:
        problems.append({"field": "purpose", "message": f"use one of {', '.join(m.Dataset.Purpose.values)}"})
    unknown = sorted(set(content) - set(content_kinds()))
    if not content or unknown:
        problems.append({"field": "content", "message": f"choose from {', '.join(content_kinds())}"})
    registered = registered_content()
    if purpose == m.Dataset.Purpose.INSTRUCTION and not set(content) & {*DOCUMENT_KINDS, *registered}:
        kinds = ", ".join([*DOCUMENT_KINDS, *registered])
        problems.append({"field": "content", "message": f"instruction pairs need one of {kinds}"})
    if purpose == m.Dataset.Purpose.PREFERENCE and not [k for k in content if k in registered and registered[k].gives_pairs]:
        kinds = ", ".join(k for k, kind in registered.items() if kind.gives_pairs) or "a kind with rejected versions"
        problems.append({"field": "content", "message": f"preference pairs need {kinds}"})
    if purpose == m.Dataset.Purpose.EVALUATION and set(content) & set(registered):
        problems.append(
            {"field": "content", "message": f"evaluation charts take no {', '.join(sorted(set(content) & set(registered)))}"}
        )
    unknown_criteria = sorted(set(criteria) - set(CRITERIA))
    if unknown_criteria:
        problems.append({"field": "criteria", "message": f"unknown criteria {', '.join(unknown_criteria)}"})
    if min_cell < 1:
        problems.append({"field": "min_cell", "message": "k must be at least 1"})
    if m.Dataset.objects.filter(name=name).exists():
        problems.append({"field": "name", "message": f"a dataset named {name!r} exists; pick another name"})
    return problems


def dataset_create(
    *,
    name: str,
    purpose: str = m.Dataset.Purpose.PRETRAINING,
    content: list[str],
    criteria: dict[str, Any] | None = None,
    seed: int = 0,
    min_cell: int | None = None,
    user: Any = None,
    channel: str | None = None,
) -> m.Dataset:
    """Validate and record a dataset request (building it is `dataset_build`, on the worker: `dataset_build_enqueue`)."""
    criteria = {k: v for k, v in (criteria or {}).items() if v not in (None, "")}
    min_cell = settings.DATASET_MIN_CELL if min_cell is None else min_cell
    problems = definition_problems(purpose=purpose, content=content, criteria=criteria, name=name, min_cell=min_cell)
    if problems:
        raise InvalidInput("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)
    with transaction.atomic():
        dataset = m.Dataset.objects.create(
            name=name, purpose=purpose, content=content, criteria=criteria, seed=seed, min_cell=min_cell, created_by=user
        )
        actor = Actor(user=user, channel=channel or ("cli" if user is None else "admin"))
        audit(actor=actor, action=Action.DATASET_CREATE, target=name, detail={"criteria": criteria, "content": content})
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


def build_is_stale(dataset: m.Dataset) -> bool:
    """A build that has run past the worker's hard time limit died with its worker: another may take over."""
    started = dataset.build_started_at
    return started is None or timezone.now() - started > dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


def dataset_build_enqueue(*, actor: Actor, dataset: m.Dataset) -> bool:
    """Queue a (re)build on the worker; False when one is running now. The files are replaced only when it ends."""
    from clinic.tasks import dataset_build_task

    require_perm(actor=actor, perm="clinic.change_dataset", what="building a dataset")
    with transaction.atomic():
        locked = m.Dataset.objects.select_for_update().get(pk=dataset.pk)
        if locked.status == m.Dataset.Status.BUILDING and not build_is_stale(locked):
            return False
        m.Dataset.objects.filter(pk=dataset.pk).update(
            status=m.Dataset.Status.PENDING, phase="queued", progress_done=0, progress_total=0, error=""
        )
        audit(actor=actor, action=Action.DATASET_BUILD, target=dataset.name, detail={"queued": True})
        enqueue(dataset_build_task, dataset.pk)
    return True
