"""synthesize: deterministic, importable, clinically coherent synthetic patients."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clinic import genomics
from clinic import models as m
from clinic.fhir.values import periods_in_order
from clinic.synthetic import HISTORY_START, LABS
from clinic.synthetic.generator import synthesize_patients
from clinic.synthetic.genome import SYNDROMES

PATIENTS = 6


@pytest.fixture
def cohort(tmp_path: Path, db) -> Path:
    out = tmp_path / "cohort"
    call_command("synthesize", patients=PATIENTS, seed=7, out=str(out), stdout=StringIO())
    return out


def _bundles(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _resources(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_it_writes_the_same_bytes_for_the_same_seed(tmp_path: Path, cohort: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    call_command("synthesize", patients=PATIENTS, seed=7, out=str(again), stdout=StringIO())
    call_command("synthesize", patients=PATIENTS, seed=8, out=str(other), stdout=StringIO())

    first = {p.name: p.read_bytes() for p in cohort.glob("*.json")}
    assert first == {p.name: p.read_bytes() for p in again.glob("*.json")}
    assert len(first) == PATIENTS
    assert set(first) != {p.name for p in other.glob("*.json")}


def test_it_prints_a_one_line_summary(tmp_path: Path, db) -> None:
    out = StringIO()
    call_command("synthesize", "--patients", "2", "--seed", "1", "--out", str(tmp_path), stdout=out)

    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Wrote 2 bundles") and "Patient 2" in lines[0]


def test_it_refuses_zero_patients(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("synthesize", patients=0, seed=1, out=str(tmp_path), stdout=StringIO())


def test_it_writes_transaction_bundles_with_internal_references(cohort: Path) -> None:
    for bundle in _bundles(cohort):
        assert bundle["type"] == "transaction"
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        assert all(url.startswith("urn:uuid:") for url in full_urls)
        references = re.findall(r'"reference": ?"([^"]+)"', json.dumps(bundle))
        assert references and set(references) <= full_urls
        encounters = _resources(bundle, "Encounter")
        assert 10 <= len(encounters) <= 40
        assert sum(e["class"]["code"] == "IMP" for e in encounters) == 1
        assert all(e["period"]["start"] < "2026-11-01" and e["period"]["end"][-6:] == "-05:00" for e in encounters)
        patient = _resources(bundle, "Patient")[0]
        assert not re.search(r"\d", json.dumps(patient["name"]))
        assert patient["identifier"][0]["type"]["coding"][0]["code"] == "MR"
        chronic = [c for c in _resources(bundle, "Condition") if c["clinicalStatus"]["coding"][0]["code"] == "active"]
        assert 3 <= len(chronic) <= 6


@pytest.mark.parametrize("seed", [1, 7, 42, 2024])
def test_it_never_ends_a_visit_before_it_starts(seed: int) -> None:
    """Emergency arrivals come at any hour of the day; the stay is counted from the arrival, not from the morning."""
    encounters = 0
    for name, bundle in synthesize_patients(patients=25, seed=seed):
        for encounter in _resources(bundle, "Encounter"):
            start, end = (dt.datetime.fromisoformat(encounter["period"][key]) for key in ("start", "end"))
            assert start <= end, (name, encounter["class"]["code"], start, end)
            encounters += 1
        for entry in bundle["entry"]:
            periods_in_order(entry["resource"])  # every other Period too: the importer would reject the bundle
    assert encounters > 25 * 10


def test_it_imports_every_bundle_without_errors(cohort: Path, db) -> None:
    out = StringIO()
    call_command("import_fhir", str(cohort), "--no-progress", stdout=out, stderr=StringIO())

    run = m.IngestionRun.objects.get()
    assert (run.units, run.units_failed, run.errors) == (PATIENTS, 0, [])
    assert m.Patient.objects.count() == PATIENTS
    expected = sum(len(b["entry"]) for b in _bundles(cohort))
    assert sum(run.counts.values()) + sum(run.unchanged.values()) == expected
    assert m.ImagingStudy.objects.exclude(study_uid=None).exists()
    assert m.DiagnosticReport.objects.exclude(result_ids=[]).exists()


def test_it_gives_active_conditions_matching_active_medications_and_trajectories(cohort: Path, db) -> None:
    call_command("import_fhir", str(cohort), "--no-progress", stdout=StringIO(), stderr=StringIO())

    treated = {"44054006": "Metformin", "55822004": "Atorvastatin", "40930008": "Levothyroxine", "370143000": "Sertraline"}
    for patient in m.Patient.objects.all():
        active = set(patient.conditions.filter(clinical_status="active").values_list("code", flat=True))
        meds = " ".join(patient.medicationrequests.filter(status="active").values_list("display", flat=True))
        assert 3 <= len(active) <= 6
        for code in active & set(treated):
            assert treated[code] in meds
        if "38341003" in active:
            assert "Lisinopril" in meds or "Amlodipine" in meds
        bp = patient.observations.filter(code="85354-9")
        assert bp.count() >= 5
        assert {c["code"] for c in bp[0].components} == {"8480-6", "8462-4"}

    diabetic = m.Patient.objects.filter(conditions__code="44054006", conditions__onset__gte=HISTORY_START)
    for patient in diabetic:
        hba1c = list(patient.observations.filter(code=LABS["hba1c"].code).order_by("effective"))
        assert len(hba1c) >= 2
        first, last = hba1c[0].value, hba1c[-1].value
        assert first is not None and last is not None and last < first  # metformin works
        assert hba1c[0].interpretation == "H" and hba1c[0].unit == "%" and hba1c[0].ref_high == 5.6


def test_it_writes_notes_in_clinical_prose(cohort: Path, db) -> None:
    call_command("import_fhir", str(cohort), "--no-progress", stdout=StringIO(), stderr=StringIO())

    notes = m.ClinicalNote.objects.all()
    assert notes.count() >= PATIENTS * 10
    assert not notes.filter(text="").exists()
    assert set(notes.values_list("code", flat=True)) >= {"11506-3", "18842-5", "34117-2"}
    texts = "\n".join(notes.values_list("text", flat=True))
    for section in ("Chief Complaint:", "HPI:", "Assessment:", "Plan:", "Family History:"):
        assert section in texts
    assert "denies chest pain" in texts and "rule out" in texts.lower()


def test_it_gives_some_patients_allergies(cohort: Path, db) -> None:
    call_command("synthesize", patients=20, seed=7, out=str(cohort), stdout=StringIO())
    call_command("import_fhir", str(cohort), "--no-progress", stdout=StringIO(), stderr=StringIO())

    with_allergies = m.Patient.objects.filter(allergyintolerances__isnull=False).distinct().count()
    assert 0 < with_allergies < 20
    allergy = m.AllergyIntolerance.objects.all()[0]
    assert allergy.clinical_status == "active" and allergy.criticality in {"high", "low"}
    assert allergy.reactions[0]["manifestation"]


def test_it_encodes_notes_as_base64_plain_text(cohort: Path) -> None:
    bundle = _bundles(cohort)[0]
    attachment = _resources(bundle, "DocumentReference")[0]["content"][0]["attachment"]
    assert attachment["contentType"].startswith("text/plain")
    assert "Chief Complaint:" in base64.b64decode(attachment["data"]).decode()


# Genomics: a family history of cancer in the notes, and a VCF with a pathogenic variant that fits it.

CLINVAR_VCF = """##fileformat=VCFv4.1
##reference=GRCh38
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
{rows}
"""
# (chrom, pos, id, ref, alt, gene, significance): made-up positions; only the genes and labels matter here.
CLINVAR_ROWS = [
    ("17", 43_100_001, "900001", "AG", "A", "BRCA1", "Pathogenic"),
    ("13", 32_300_001, "900002", "T", "TA", "BRCA2", "Pathogenic"),
    ("16", 23_600_001, "900003", "C", "T", "PALB2", "Pathogenic/Likely_pathogenic"),
    ("3", 37_000_001, "900004", "G", "A", "MLH1", "Pathogenic"),
    ("2", 47_400_001, "900005", "CA", "C", "MSH2", "Pathogenic"),
    ("5", 112_800_001, "900006", "C", "T", "APC", "Pathogenic"),
    ("1", 45_300_001, "900007", "G", "T", "MUTYH", "Pathogenic"),
    ("17", 7_670_001, "900008", "C", "T", "TP53", "Pathogenic"),
    ("11", 108_200_001, "900009", "A", "G", "ATM", "Pathogenic"),
    ("17", 43_100_101, "900010", "A", "G", "BRCA1", "Benign"),
    ("17", 43_100_201, "900011", "AT", "A", "BRCA1", "Conflicting_classifications_of_pathogenicity"),
]
FITTING_GENES = {"breast": {"BRCA1", "BRCA2", "PALB2", "ATM"}, "ovarian": {"BRCA1", "BRCA2"},
                 "colon": {"MLH1", "MSH2", "APC", "MUTYH"}, "sarcoma": {"TP53"}, "pancreatic": {"ATM", "PALB2"}}  # fmt: skip


@pytest.fixture
def clinvar(tmp_path: Path, db) -> None:
    rows = "\n".join(
        f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t.\tCLNSIG={s};GENEINFO={g}:1;CLNREVSTAT=reviewed_by_expert_panel"
        for c, p, i, r, a, g, s in CLINVAR_ROWS
    )
    path = tmp_path / "clinvar.vcf"
    path.write_text(CLINVAR_VCF.format(rows=rows))
    call_command("import_clinvar", str(path), stdout=StringIO())


def _family_history(patient: m.Patient) -> str:
    text = m.ClinicalNote.objects.filter(patient=patient, text__contains="Family History:").values_list("text", flat=True)[0]
    return text.split("Family History: ", 1)[1].split("\n", 1)[0]


def test_it_gives_about_a_third_of_patients_a_vcf_named_after_the_patient(tmp_path: Path, db) -> None:
    call_command("synthesize", patients=30, seed=7, out=str(tmp_path), stdout=StringIO())

    vcfs = sorted((tmp_path / "genomics").glob("*.vcf"))
    assert 4 <= len(vcfs) <= 16
    patients = {_resources(b, "Patient")[0]["id"]: _resources(b, "Patient")[0] for b in _bundles(tmp_path)}
    for vcf in vcfs:
        lines = vcf.read_text().splitlines()
        mrn = patients[vcf.stem]["identifier"][0]["value"]
        assert lines[0] == "##fileformat=VCFv4.2" and "##reference=GRCh38" in lines
        assert lines[[n for n, line in enumerate(lines) if line.startswith("#CHROM")][0]].split("\t")[9:] == [mrn]
        records = [line.split("\t") for line in lines if not line.startswith("#")]
        assert 20 <= len(records) <= 50  # no ClinVar rows: background only
        assert {r[9].split(":")[0] for r in records} == {"0/1", "1/1"}
        assert len({r[0] for r in records}) >= 4


def test_it_writes_no_vcf_when_asked_not_to(tmp_path: Path, db) -> None:
    call_command("synthesize", patients=10, seed=7, out=str(tmp_path), vcf=False, stdout=StringIO())

    assert not (tmp_path / "genomics").exists()


def test_it_gives_a_pathogenic_variant_that_fits_the_family_history(tmp_path: Path, clinvar: None) -> None:
    out = StringIO()
    call_command("synthesize", patients=20, seed=7, out=str(tmp_path), stdout=out)
    call_command("import_fhir", str(tmp_path), "--no-progress", stdout=StringIO(), stderr=StringIO())
    vcfs = sorted((tmp_path / "genomics").glob("*.vcf"))
    for vcf in vcfs:
        call_command("import_vcf", str(vcf), "--patient", vcf.stem, stdout=StringIO())

    assert vcfs and f"{len(vcfs)} VCFs ({len(vcfs)} with a ClinVar-pathogenic variant)" in out.getvalue()
    assert m.IngestionRun.objects.filter(units_failed=0, units=20).exists()  # the VCFs beside the bundles are left alone
    for vcf in vcfs:
        patient = m.Patient.objects.get(fhir_id=vcf.stem)
        history = _family_history(patient).lower()
        first = genomics.patient_variants(patient=patient)[0]
        assert first.significance.startswith("Pathogenic") and first.zygosity == "heterozygous"
        fitting = set().union(*(genes for cancer, genes in FITTING_GENES.items() if cancer in history))
        assert first.gene in fitting, (history, first.gene)
        assert genomics.patient_variants(patient=patient).filter(significance__icontains="pathogenic").count() == 1
    others = m.Patient.objects.exclude(fhir_id__in=[v.stem for v in vcfs])
    hereditary = {s.family_history for s in SYNDROMES}
    assert others.exists() and all(_family_history(p) not in hereditary for p in others)


def test_it_picks_the_same_pathogenic_variants_for_the_same_seed(tmp_path: Path, clinvar: None) -> None:
    call_command("synthesize", patients=12, seed=3, out=str(tmp_path / "a"), stdout=StringIO())
    call_command("synthesize", patients=12, seed=3, out=str(tmp_path / "b"), stdout=StringIO())

    first = {p.name: p.read_bytes() for p in (tmp_path / "a" / "genomics").glob("*.vcf")}
    assert first and first == {p.name: p.read_bytes() for p in (tmp_path / "b" / "genomics").glob("*.vcf")}
