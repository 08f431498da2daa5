"""import_fhir: counts, idempotency, atomicity, references, errors that name their place."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clinic import models as m
from clinic.fhir.mapping import MAPPERS
from clinic.services import fhir_import_bytes, fhir_import_files
from tests.clinic.fhir_factory import bundle, dumps

MODEL_COUNTS = {rtype: model for rtype, (model, _) in MAPPERS.items()}


def table_counts() -> Counter[str]:
    return Counter({rtype: model.objects.count() for rtype, model in MODEL_COUNTS.items()})


def bundle_counts(paths: list[Path]) -> Counter[str]:
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for path in paths:
        for entry in json.loads(path.read_text())["entry"]:
            resource = entry["resource"]
            key = (resource["resourceType"], resource.get("id") or entry["fullUrl"])
            if resource["resourceType"] in MODEL_COUNTS and key not in seen:
                seen.add(key)
                counts[resource["resourceType"]] += 1
    return counts


@pytest.mark.django_db
def test_it_imports_a_bundle_with_its_references_resolved():
    run = fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    assert run.status == "succeeded", run.errors
    patient = m.Patient.objects.get()
    assert patient.name == "Ada Lovelace" and patient.mrn.startswith("MRN-")
    assert m.Observation.objects.filter(patient=patient, encounter__isnull=False).count() == 3
    note = m.ClinicalNote.objects.get()
    assert "denies chest pain" in note.text and note.encounter is not None
    assert note.raw["subject"]["reference"] == f"Patient/{patient.fhir_id}"
    assert m.TimelineEvent.objects.filter(patient=patient).count() == 8  # encounter, condition, med, allergy, note, 3 labs
    assert run.counts == {
        "Patient": 1,
        "Encounter": 1,
        "Condition": 1,
        "MedicationRequest": 1,
        "AllergyIntolerance": 1,
        "DocumentReference": 1,
        "Observation": 3,
    }


@pytest.mark.django_db
def test_it_changes_nothing_when_the_same_bundle_is_imported_twice():
    data = dumps(bundle())
    fhir_import_bytes(name="b.json", data=data)
    before = {model: list(model.objects.order_by("id").values()) for model in MODEL_COUNTS.values()}
    events_before = list(m.TimelineEvent.objects.order_by("id").values())
    second = fhir_import_bytes(name="b.json", data=data)
    assert second.counts == {} and sum(second.unchanged.values()) == 9
    assert {model: list(model.objects.order_by("id").values()) for model in MODEL_COUNTS.values()} == before
    assert list(m.TimelineEvent.objects.order_by("id").values()) == events_before


@pytest.mark.django_db
def test_it_updates_a_changed_resource_in_place():
    doc = bundle()
    fhir_import_bytes(name="b.json", data=dumps(doc))
    obs = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["valueQuantity"]["value"] = 9.9
    run = fhir_import_bytes(name="b.json", data=dumps(doc))
    assert run.counts == {"Observation": 1}
    assert m.Observation.objects.get(fhir_id=obs["id"]).value == 9.9
    assert m.Observation.objects.count() == 3


@pytest.mark.django_db
def test_it_rejects_a_bad_bundle_whole_and_names_the_place():
    doc = bundle()
    obs = [e for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"][1]
    obs["resource"]["effectiveDateTime"] = "2020-13-45T99:99:99"
    run = fhir_import_bytes(name="broken.json", data=dumps(doc))
    assert run.status == "failed"
    error = run.errors[0]
    index = doc["entry"].index(obs)
    assert (error["file"], error["entry"], error["resource_type"], error["field"]) == (
        "broken.json",
        index,
        "Observation",
        "effectiveDateTime",
    )
    assert sum(table_counts().values()) == 0 and m.TimelineEvent.objects.count() == 0


BACKWARDS = {"start": "2024-05-02T10:00:00+00:00", "end": "2024-05-01T10:00:00+00:00"}


def _with_resource(doc: dict, rtype: str, body: dict) -> dict:
    patient = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    resource = {"resourceType": rtype, "id": f"{rtype.lower()}-1", "subject": {"reference": f"urn:uuid:{patient['id']}"}, **body}
    doc["entry"].append({"fullUrl": f"urn:uuid:{rtype.lower()}-1", "resource": resource})
    return doc


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rtype", "body", "field"),
    [
        ("Encounter", {"status": "finished", "period": BACKWARDS}, "period"),
        ("CarePlan", {"status": "active", "intent": "plan", "period": BACKWARDS}, "period"),
        ("Procedure", {"status": "completed", "performedPeriod": BACKWARDS}, "performedPeriod"),
        ("Condition", {"onsetPeriod": BACKWARDS}, "onsetPeriod"),
        (  # a Period no mapper reads is held to the same rule
            "MedicationRequest",
            {"status": "stopped", "intent": "order", "dispenseRequest": {"validityPeriod": BACKWARDS}},
            "dispenseRequest.validityPeriod",
        ),
        (
            "Encounter",
            {"status": "finished", "location": [{"period": {"start": "2024-05-02", "end": "2024-05-01"}}]},
            "location[0].period",
        ),
    ],
)
def test_it_rejects_a_period_that_ends_before_it_starts(rtype, body, field):
    doc = _with_resource(bundle(), rtype, body)
    run = fhir_import_bytes(name="backwards.json", data=dumps(doc))
    assert run.status == "failed" and len(run.errors) == 1
    error = run.errors[0]
    assert (error["file"], error["entry"], error["resource_type"], error["field"]) == (
        "backwards.json",
        len(doc["entry"]) - 1,
        rtype,
        field,
    )
    assert "before it starts" in error["message"]
    assert sum(table_counts().values()) == 0 and m.TimelineEvent.objects.count() == 0


@pytest.mark.django_db
def test_it_accepts_periods_that_end_when_they_start_or_at_a_coarser_precision():
    doc = bundle()
    for period in (
        {"start": "2024-05-02T10:00:00+00:00", "end": "2024-05-02T10:00:00+00:00"},
        {"start": "2024-05-02", "end": "2024-05"},
    ):
        _with_resource(doc, "CarePlan", {"status": "active", "intent": "plan", "period": period})
        doc["entry"][-1]["resource"]["id"] = doc["entry"][-1]["fullUrl"] = f"careplan-{period['end']}"
    run = fhir_import_bytes(name="edges.json", data=dumps(doc))
    assert run.status == "succeeded", run.errors
    assert m.CarePlan.objects.count() == 2


@pytest.mark.django_db
def test_it_prints_the_place_of_a_backwards_period(tmp_path, capsys):
    doc = bundle()
    encounter = next(e for e in doc["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["resource"]["period"] = BACKWARDS
    (tmp_path / "admission.json").write_bytes(dumps(doc))
    with pytest.raises(CommandError, match="1 of 1 files rejected"):
        call_command("import_fhir", str(tmp_path), "--no-progress")
    err = capsys.readouterr().err
    assert f"entry {doc['entry'].index(encounter)}" in err and "field period" in err and "before it starts" in err
    assert m.Encounter.objects.count() == 0


@pytest.mark.django_db
def test_it_rejects_a_quantity_that_is_not_a_number():
    doc = bundle()
    obs = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["valueQuantity"]["value"] = "not-a-number"
    run = fhir_import_bytes(name="q.json", data=dumps(doc))
    assert run.errors[0]["field"] == "valueQuantity.value"
    assert m.Patient.objects.count() == 0


@pytest.mark.django_db
def test_it_rejects_a_resource_whose_patient_is_unknown():
    doc = bundle()
    doc["entry"] = [e for e in doc["entry"] if e["resource"]["resourceType"] != "Patient"]
    run = fhir_import_bytes(name="orphans.json", data=dumps(doc))
    assert run.status == "failed" and run.errors[0]["field"] == "subject"
    assert m.Encounter.objects.count() == 0


@pytest.mark.django_db
def test_it_imports_ndjson_and_names_the_bad_line(tmp_path):
    doc = bundle()
    lines = [json.dumps(e["resource"]) for e in doc["entry"]]
    good = tmp_path / "good.ndjson"
    good.write_text("\n".join(lines))
    bad = tmp_path / "bad.ndjson"
    bad.write_text("\n".join(lines[:2] + ["{not json"] + lines[2:]))
    run = fhir_import_files(paths=[tmp_path])
    assert run.status == "partial"
    assert run.errors[0]["file"].endswith("bad.ndjson") and run.errors[0]["entry"] == "line 3"
    assert m.Patient.objects.count() == 1


@pytest.mark.django_db
def test_it_exits_non_zero_and_prints_the_file_when_a_bundle_fails(tmp_path, capsys):
    (tmp_path / "good.json").write_bytes(dumps(bundle()))
    doc = bundle()
    doc["entry"][2]["resource"]["onsetDateTime"] = "yesterday"
    (tmp_path / "bad.json").write_bytes(dumps(doc))
    with pytest.raises(CommandError, match="1 of 2 files rejected"):
        call_command("import_fhir", str(tmp_path), "--no-progress")
    out = capsys.readouterr()
    assert "bad.json" in out.err and "onsetDateTime" in out.err
    assert m.Patient.objects.count() == 1


@pytest.mark.django_db
def test_it_resolves_conditional_references_by_identifier():
    practitioner = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "fullUrl": "urn:uuid:p1",
                "resource": {
                    "resourceType": "Practitioner",
                    "id": "p1",
                    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "999"}],
                    "name": [{"given": ["Karl"], "family": "Bailey"}],
                },
            }
        ],
    }
    fhir_import_bytes(name="practitioners.json", data=dumps(practitioner))
    doc = bundle()
    enc = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Encounter")
    enc["participant"] = [{"individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999"}}]
    fhir_import_bytes(name="b.json", data=dumps(doc))
    encounter = m.Encounter.objects.get()
    assert encounter.practitioner is not None and encounter.practitioner.fhir_id == "p1"
    assert encounter.raw["participant"][0]["individual"]["reference"] == "Practitioner/p1"


@pytest.mark.shared_data
@pytest.mark.django_db
def test_it_imports_both_shared_sets_completely(shared_data):
    notes = sorted((shared_data / "fhir/synthea-notes").glob("*.json"))
    r4 = sorted((shared_data / "fhir/synthea-r4").glob("*.json"))
    run = fhir_import_files(paths=[shared_data / "fhir/synthea-notes", shared_data / "fhir/synthea-r4"])
    assert run.status == "succeeded", run.errors[:3]
    assert table_counts() == bundle_counts(notes + r4)
    assert m.ClinicalNote.objects.exclude(text="").count() == m.ClinicalNote.objects.count() > 2000
    again = fhir_import_files(paths=[shared_data / "fhir/synthea-r4"])
    assert again.counts == {} and table_counts() == bundle_counts(notes + r4)
