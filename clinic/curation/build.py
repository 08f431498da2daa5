"""Building a dataset: cohort → consent → small cells → de-identified parts per patient → duplicates → residual PHI
→ files in a temporary folder → one atomic switch → the row marked ready (or failed, saying why).

Layout under MEDIA_ROOT/datasets: `<name>` is a symbolic link to `.store/<name>-<sha>/`, switched with one rename,
so a reader sees the old dataset or the new one, never half of either, and a failed build leaves nothing. The folder
holds data.jsonl, images/<uid>.dcm with images.jsonl, variants.jsonl, SHA256SUMS and card.json.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from carebase.files import StorageFull, write_atomically
from clinic import models as m
from clinic.access import Actor
from clinic.audit import Action, audit
from clinic.consent import research_opted_out
from clinic.curation.card import card_build, masked, source_hash
from clinic.curation.checks import MIN_NOTE_WORDS, NEAR_DUPLICATE, Deduplicator, residual_phi, small_cells
from clinic.curation.define import build_is_stale, dataset_cohort
from clinic.curation.records import BuildFailed, PatientBuilder, PatientPart, quasi_identifiers
from clinic.deid import Deidentifier, deid_secret, deidentifier_for

logger = logging.getLogger(__name__)
JSONL = orjson.OPT_SORT_KEYS
STORE = ".store"


def datasets_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "datasets"


def dataset_build(*, dataset_id: int) -> m.Dataset | None:
    """Build the dataset (idempotent: the same data, definition and seed give the same bytes). Returns the row, or
    None when it is gone; a build already running elsewhere is left alone."""
    dataset = _claim(dataset_id)
    if dataset is None:
        return m.Dataset.objects.filter(pk=dataset_id).first()
    try:
        _build(dataset)
    except (BuildFailed, StorageFull) as e:
        _fail(dataset, str(e))
    except Exception as e:
        _fail(dataset, f"unexpected error ({type(e).__name__}); the worker's log has the details")
        raise
    return m.Dataset.objects.get(pk=dataset.pk)


def _claim(dataset_id: int) -> m.Dataset | None:
    """Mark the dataset building unless a live build has it (a build past the time limit died with its worker)."""
    dataset = m.Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None or (dataset.status == m.Dataset.Status.BUILDING and not build_is_stale(dataset)):
        return None
    claimed = (
        m.Dataset.objects.filter(pk=dataset_id)
        .filter(~Q(status=m.Dataset.Status.BUILDING) | Q(build_started_at=dataset.build_started_at))
        .update(status=m.Dataset.Status.BUILDING, phase="selecting the cohort", progress_done=0, progress_total=0,
                error="", build_started_at=timezone.now())
    )  # fmt: skip
    return m.Dataset.objects.get(pk=dataset_id) if claimed else None


def _progress(dataset: m.Dataset, phase: str, done: int = 0, total: int = 0) -> None:
    m.Dataset.objects.filter(pk=dataset.pk).update(phase=phase, progress_done=done, progress_total=total)


def _fail(dataset: m.Dataset, reason: str) -> None:
    logger.warning("dataset %s failed: %s", dataset.name, reason)
    with transaction.atomic():
        m.Dataset.objects.filter(pk=dataset.pk).update(status=m.Dataset.Status.FAILED, phase="", error=reason)
        actor = Actor(user=dataset.created_by, channel="worker")
        audit(actor=actor, action=Action.DATASET_BUILD, target=dataset.name, detail={"failed": reason})


def _build(dataset: m.Dataset) -> None:
    secret = deid_secret(salt=str(dataset.seed))
    cohort = list(dataset_cohort(criteria=dataset.criteria))
    opted_out = research_opted_out(patient_ids=[p.pk for p in cohort])
    eligible = [p for p in cohort if p.pk not in opted_out]
    suppressed, small = small_cells({p.pk: quasi_identifiers(p) for p in eligible}, k=dataset.min_cell)
    patients = [p for p in eligible if p.pk not in suppressed]
    if not patients:
        raise BuildFailed(_nobody_left(len(cohort), len(opted_out), len(suppressed), dataset.min_cell))
    parts: list[tuple[m.Patient, PatientPart]] = []
    for done, patient in enumerate(patients):
        _progress(dataset, "de-identifying patients", done, len(patients))
        parts.append((patient, PatientBuilder(dataset, patient, secret).build()))
    _progress(dataset, "checking duplicates and residual PHI", len(patients), len(patients))
    records, dropped = _deduplicated(parts)
    _residual_check(records, secret)
    _progress(dataset, "writing files", len(patients), len(patients))
    facts = {
        "counts": _counts(cohort, opted_out, suppressed, patients, records, parts, dropped),
        "demographics": _demographics(patients, dataset.min_cell),
        "phi_removed": {"text": _total(p.phi for _, p in parts), "dicom": _total(p.dicom for _, p in parts)},
        "checks": _checks(dataset, opted_out, small, suppressed, dropped, records, parts),
        "min_cell": dataset.min_cell,
        "patients": len(patients),
        "records": len(records),
        "source_sha256": source_hash([*(s for _, p in parts for s in p.sources), f"opted-out:{sorted(opted_out)}"]),
    }
    sha = _write(dataset, [r for _, r in records], parts, facts, secret)
    with transaction.atomic():
        m.Dataset.objects.filter(pk=dataset.pk).update(
            status=m.Dataset.Status.READY, phase="", progress_done=len(patients), progress_total=len(patients),
            built_at=timezone.now(), file=f"datasets/{dataset.name}", sha256=sha, patients=len(patients),
            records=len(records), card=orjson.loads(orjson.dumps(facts["card"])), error="",
        )  # fmt: skip
        actor = Actor(user=dataset.created_by, channel="worker")
        detail = {"patients": len(patients), "sha256": sha}
        audit(actor=actor, action=Action.DATASET_BUILD, target=dataset.name, patients=[p.pk for p in patients], detail=detail)


def _nobody_left(cohort: int, opted_out: int, suppressed: int, k: int) -> str:
    if not cohort:
        return "no patient matches the cohort criteria"
    return (f"no patient left: {cohort} in the cohort, {opted_out} opted out of research, {suppressed} in (age band, sex, "
            f"ZIP3) cells of fewer than k={k}; widen the cohort, or lower k for a dataset that stays inside")  # fmt: skip


def _main_text(record: dict[str, Any]) -> str:
    """The text that makes a record what it is (for duplicates); "" for charts, which are one per patient."""
    if "messages" in record:
        return "\n".join(msg["content"] for msg in record["messages"] if msg["role"] != "system")
    if "chosen" in record:
        return "\n".join((record["prompt"], record["chosen"], record["rejected"]))
    return str(record.get("text") or record.get("target") or "")


def _deduplicated(parts: list[tuple[m.Patient, PatientPart]]) -> tuple[list[tuple[m.Patient, dict[str, Any]]], Counter[str]]:
    dedup, kept, dropped = Deduplicator(), [], _total(p.dropped for _, p in parts)
    for patient, part in parts:
        for record in part.records:
            text = _main_text(record)
            verdict = dedup.verdict(text) if text else ""
            if verdict:
                dropped[verdict] += 1
            else:
                kept.append((patient, record))
    return kept, dropped


def _residual_check(records: list[tuple[m.Patient, dict[str, Any]]], secret: str) -> None:
    """Re-read every record with a fresh Deidentifier that knows the patient's identifiers; anything but a (shifted)
    date it finds fails the build, naming the line, field and type."""
    scanners: dict[int, Deidentifier] = {}
    for line, (patient, record) in enumerate(records, 1):
        if patient.pk not in scanners:
            scanners[patient.pk] = deidentifier_for(patient=patient, secret=secret)
        found = residual_phi(record, scanners[patient.pk])
        if found:
            where = ", ".join(f"{kind} in {path}" for path, kind in found[:3])
            raise BuildFailed(f"residual PHI check: data.jsonl line {line}: {where} after de-identification; "
                              "nothing was written (structured fields such as displays are not rewritten: fix the source)")  # fmt: skip


def _total(counters: Any) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def _counts(cohort: list[m.Patient], opted_out: set[int], suppressed: set[int], patients: list[m.Patient],
            records: list[tuple[m.Patient, dict[str, Any]]], parts: list[tuple[m.Patient, PatientPart]],
            dropped: Counter[str]) -> dict[str, Any]:  # fmt: skip
    kinds = Counter(r.get("kind") or r.get("source") or "record" for _, r in records)
    return {
        "cohort": len(cohort), "opted_out": len(opted_out), "small_cell_suppressed": len(suppressed),
        "patients": len(patients), "records": len(records), "records_by_kind": dict(sorted(kinds.items())),
        "dropped": dict(sorted(dropped.items())), "images": sum(len(p.images) for _, p in parts),
        "images_excluded_burned_in": sum(len(p.flagged) for _, p in parts),
        "variants": sum(len(p.variants) for _, p in parts),
    }  # fmt: skip


def _demographics(patients: list[m.Patient], k: int) -> dict[str, Any]:
    bands = Counter(quasi_identifiers(p)[0] for p in patients)
    return {
        "age_band": dict(sorted(bands.items())),
        "sex": dict(sorted(Counter(p.sex or "unknown" for p in patients).items())),
        "race": masked(Counter(p.race for p in patients), k),
        "ethnicity": masked(Counter(p.ethnicity for p in patients), k),
    }


def _checks(dataset: m.Dataset, opted_out: set[int], small: int, suppressed: set[int], dropped: Counter[str],
            records: list[Any], parts: list[tuple[m.Patient, PatientPart]]) -> list[dict[str, Any]]:  # fmt: skip
    k = dataset.min_cell
    flagged = [f for _, p in parts for f in p.flagged]
    images = sum(len(p.images) + len(p.flagged) for _, p in parts)
    return [
        {"name": "research consent", "result": "passed",
         "detail": f"{len(opted_out)} patient(s) of the cohort opted out of research and are left out"},
        {"name": "empty and template-only notes", "result": "passed",
         "detail": f"{dropped['empty']} empty and {dropped['template_only']} template-only (fewer than {MIN_NOTE_WORDS} "
                   "words beyond labels, placeholders and tags) left out"},
        {"name": "duplicates", "result": "passed",
         "detail": f"{dropped['duplicate']} exact and {dropped['near_duplicate']} near duplicates (5-word shingles, "
                   f"Jaccard ≥ {NEAR_DUPLICATE}, MinHash LSH) left out; the first of each kept"},
        {"name": "small cells", "result": "passed", "k": k,
         "detail": f"{small} (age band, sex, ZIP3) cell(s) under k={k}: their {len(suppressed)} patient(s) left out; "
                   f"every released cell has at least {k}"},
        {"name": "residual PHI", "result": "passed",
         "detail": f"{len(records)} records re-read by the de-identification engine knowing each patient's identifiers "
                   f"and {images} DICOM file(s) searched for them: nothing found (shifted dates aside)"},
        {"name": "burned-in annotation", "result": "flagged" if flagged else "passed", "files": flagged,
         "detail": f"{len(flagged)} DICOM file(s) that may show text in their pixels left out"},
        {"name": "key", "result": "passed", "detail": "the de-identification key appears in no output byte"},
    ]  # fmt: skip


# --- files ---------------------------------------------------------------------------------------------------


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(row, option=JSONL) + b"\n" for row in rows)


def _write(dataset: m.Dataset, records: list[dict[str, Any]], parts: list[tuple[m.Patient, PatientPart]],
           facts: dict[str, Any], secret: str) -> str:  # fmt: skip
    """Write every file into a temporary folder, check it holds no key, then switch the dataset's link to it."""
    root = datasets_root()
    (root / STORE).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dataset.name}.", dir=root))
    try:
        files: dict[str, bytes] = {}
        if records:
            files["data.jsonl"] = _jsonl(records)
        images = sorted(
            (img for _, p in parts for img in p.images), key=lambda i: (i.meta["patient"], i.meta["study_date"] or "", i.uid)
        )
        for image in images:
            files[image.meta["file"]] = image.data
        if images:
            files["images.jsonl"] = _jsonl([i.meta for i in images])
        variants = [v for _, p in parts for v in p.variants]
        if variants:
            files["variants.jsonl"] = _jsonl(variants)
        sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items())).encode()
        sha = hashlib.sha256(sums).hexdigest()
        listing = [{"path": p, "bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())]
        card = card_build(dataset=dataset, facts={**facts, "files": listing, "sha256": sha})
        facts["card"] = card
        files["SHA256SUMS"] = sums
        files["card.json"] = orjson.dumps(card, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        _no_key(files, secret)
        for path, data in files.items():
            write_atomically(tmp / path, data)  # a full disk: StorageFull, the folder goes (below)
        _switch(root, dataset.name, tmp, sha)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sha


def _no_key(files: dict[str, bytes], secret: str) -> None:
    keys = {settings.DEID_SECRET.encode(), secret.encode()}
    for path, data in files.items():
        if any(key in data for key in keys):
            raise BuildFailed(f"{path}: the de-identification key appears in the output; nothing was written")


def _switch(root: Path, name: str, tmp: Path, sha: str) -> None:
    """Move the new folder into the store and point `<name>` at it with one rename; the old folder goes after."""
    link = root / name
    old = link.resolve() if link.is_symlink() else None
    final = root / STORE / f"{name}-{sha[:16]}"
    if final.exists():
        shutil.rmtree(tmp)  # a rebuild that gave the same bytes
    else:
        tmp.rename(final)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)  # a folder left by hand
    staged = root / f".{name}.link"
    staged.unlink(missing_ok=True)
    staged.symlink_to(Path(STORE) / final.name)
    os.replace(staged, link)
    if old is not None and old != final.resolve() and old.exists():
        shutil.rmtree(old, ignore_errors=True)
