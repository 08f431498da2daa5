"""Dataset curation: de-identified, reproducible JSONL with a data card, audited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from clinic import models as m
from clinic.curation import dataset_build, dataset_create
from clinic.deid import Deidentifier
from clinic.errors import InvalidInput
from clinic.services import fhir_import_bytes
from tests.clinic.fhir_factory import bundle, dumps


@pytest.fixture
def cohort(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    doc = bundle()
    note = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    text = "Ada Lovelace (MRN {mrn}) seen 2024-03-01, call 617-555-0101 or ada@example.org. 92-year-old aunt.\n"
    mrn = doc["entry"][0]["resource"]["identifier"][0]["value"]
    import base64

    note["content"][0]["attachment"]["data"] = base64.b64encode(text.format(mrn=mrn).encode()).decode()
    fhir_import_bytes(name="ada.json", data=dumps(doc))
    return m.Patient.objects.get()


def read_jsonl(dataset: m.Dataset) -> list[dict]:
    return [json.loads(line) for line in (Path(settings.MEDIA_ROOT) / dataset.file / "data.jsonl").read_text().splitlines()]


def test_it_removes_identifiers_and_shifts_dates(cohort):
    dataset = dataset_build(dataset_id=dataset_create(name="notes-v1", content=["notes", "problems"], seed=3, min_cell=1).pk)
    records = read_jsonl(dataset)
    note = next(r for r in records if r["kind"] == "note")
    blob = json.dumps(records)
    for identifier in ("Ada", "Lovelace", cohort.mrn, cohort.fhir_id, "617-555-0101", "ada@example.org", "2024-03-01"):
        assert identifier not in blob
    assert "[NAME]" in note["text"] and "[PHONE]" in note["text"] and "[EMAIL]" in note["text"] and ">89" in note["text"]
    shifted = dt.date.fromisoformat(note["date"])
    assert dt.date(2024, 3, 1) - dt.timedelta(days=365) <= shifted < dt.date(2024, 3, 1)
    assert shifted.isoformat() in note["text"]  # the date in the text moved by the same offset
    assert dataset.card["patients"] == 1 and dataset.card["sha256"] == dataset.sha256
    assert m.AuditEvent.objects.filter(action="dataset.build", target="notes-v1").exists()


def test_it_gives_the_same_bytes_for_the_same_seed_and_others_for_another(cohort):
    first = dataset_build(dataset_id=dataset_create(name="a", content=["notes", "labs"], seed=1, min_cell=1).pk)
    again = dataset_build(dataset_id=first.pk)
    other = dataset_build(dataset_id=dataset_create(name="b", content=["notes", "labs"], seed=2, min_cell=1).pk)
    assert first.sha256 == again.sha256 != other.sha256


def test_it_selects_the_cohort_by_condition(cohort):
    none = dataset_build(
        dataset_id=dataset_create(name="diabetics", content=["problems"], criteria={"condition_code": "44054006"}, min_cell=1).pk
    )
    some = dataset_build(
        dataset_id=dataset_create(
            name="hypertensives", content=["problems"], criteria={"condition_code": "38341003"}, min_cell=1
        ).pk
    )
    assert (none.patients, some.patients) == (0, 1)


def test_it_rejects_unknown_content_and_duplicate_names(cohort):
    with pytest.raises(InvalidInput, match="content"):
        dataset_create(name="x", content=["dreams"])
    dataset_create(name="x", content=["notes"])
    with pytest.raises(InvalidInput, match="name"):
        dataset_create(name="x", content=["notes"])


def test_it_builds_from_the_command_line(cohort, capsys):
    call_command(
        "curate_dataset", "pairs", "--content", "notes,problems,medications", "--purpose", "finetuning", "--min-cell", "1"
    )
    assert "1 patients" in capsys.readouterr().out
    pair = read_jsonl(m.Dataset.objects.get(name="pairs"))[0]
    assert pair["kind"] == "pair" and pair["input"]["problems"][0]["display"] == "Hypertension"
    with pytest.raises(CommandError, match="content"):
        call_command("curate_dataset", "bad", "--content", "dreams")


def test_it_never_shifts_a_date_by_zero_days():
    offsets = {Deidentifier(secret="s", patient_key=str(i)).offset.days for i in range(500)}
    assert 0 not in offsets and min(offsets) >= -365
