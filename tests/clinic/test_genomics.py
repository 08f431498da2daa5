"""Genomics: ClinVar reference loading, a patient's VCF import (samples, GT, zygosity, errors), REST and panel."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clinic import models as m
from clinic.errors import InvalidInput
from clinic.genomics import clinvar_import, genotype_zygosity, normalise_chrom, vcf_import
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.clinic.fhir_factory import bundle, dumps

BRCA1_POS = 43045711  # NC_000017.11:g.43045711G>C, Pathogenic, reviewed by expert panel


@pytest.fixture
def ada(clinician) -> m.Patient:
    """Ada Lovelace's chart, Dr Grey on her care team."""
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=1)))
    patient = m.Patient.objects.get()
    on_care_team(clinician, patient)
    return patient


@pytest.fixture
def clinvar_brca1(shared_data: Path, tmp_path: Path, db) -> Path:
    """The real ClinVar file cut down to its BRCA1 records (bgzip in, plain gzip out)."""
    source = shared_data / "vcf" / "clinvar_cancer_genes_GRCh38.vcf.gz"
    target = tmp_path / "clinvar_brca1.vcf.gz"
    with gzip.open(source, "rt") as lines, gzip.open(target, "wt") as out:
        out.writelines(line for line in lines if line.startswith("#") or "GENEINFO=BRCA1:" in line)
    clinvar_import(path=target)
    return target


def _vcf(tmp_path: Path, body: str, samples: str = "PATIENT", version: str = "VCFv4.2") -> Path:
    path = tmp_path / "patient.vcf"
    header = f"##fileformat={version}\n##reference=GRCh38\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n"
    path.write_text(header + body)
    return path


def test_it_reads_genotype_and_zygosity_from_gt():
    assert genotype_zygosity("0/1", 1) == ("0/1", "heterozygous")
    assert genotype_zygosity("1|1", 1) == ("1|1", "homozygous")
    assert genotype_zygosity("1", 1) == ("1", "hemizygous")
    assert genotype_zygosity("1/2", 2) == ("1/2", "heterozygous")
    assert genotype_zygosity("0/0", 1) is None and genotype_zygosity("./.", 1) is None


def test_it_compares_chromosomes_without_the_chr_prefix():
    assert normalise_chrom("chr17") == "17" and normalise_chrom("chrM") == "MT" and normalise_chrom("X") == "X"


def test_it_loads_the_whole_clinvar_file(shared_data: Path, db):
    load = clinvar_import(path=shared_data / "vcf" / "clinvar_cancer_genes_GRCh38.vcf.gz")
    assert load.rows > 69_000 and m.ClinVarVariant.objects.count() == load.rows
    assert load.run.status == m.IngestionRun.Status.SUCCEEDED
    again = clinvar_import(path=shared_data / "vcf" / "clinvar_cancer_genes_GRCh38.vcf.gz")
    assert m.ClinVarVariant.objects.count() == again.rows == load.rows  # a refresh, not a second copy


def test_it_annotates_a_known_pathogenic_brca1_variant(ada, clinvar_brca1, tmp_path):
    path = _vcf(tmp_path, f"chr17\t{BRCA1_POS}\t.\tG\tC\t50\tPASS\tDP=40\tGT:DP\t0/1:38\n1\t100\t.\tA\tT\t10\tq10\t.\tGT\t1/1\n")
    report = vcf_import(patient=ada, path=path)
    brca1 = m.GenomicVariant.objects.get(pos=BRCA1_POS)
    assert (brca1.gene, brca1.significance, brca1.zygosity, brca1.depth) == ("BRCA1", "Pathogenic", "heterozygous", 38)
    assert brca1.hgvs == "NC_000017.11:g.43045711G>C" and "Breast-ovarian cancer" in brca1.condition
    assert brca1.review_status == "reviewed by expert panel" and brca1.is_actionable
    assert report.num_variants == 2 and report.num_pathogenic == 1
    event = m.TimelineEvent.objects.get(kind="genomics", source_id=report.pk)
    assert event.patient == ada and event.flag == "!"


def test_it_splits_multiallelic_records_and_keeps_only_carried_alleles(ada, tmp_path):
    path = _vcf(tmp_path, "1\t500\trs1\tA\tC,G,T\t.\t.\t.\tGT\t1/3\n")
    vcf_import(patient=ada, path=path)
    assert sorted(m.GenomicVariant.objects.values_list("alt", "zygosity")) == [("C", "heterozygous"), ("T", "heterozygous")]


def test_it_replaces_variants_on_reimport(ada, tmp_path):
    path = _vcf(tmp_path, "1\t500\t.\tA\tC\t.\t.\t.\tGT\t0/1\n")
    vcf_import(patient=ada, path=path)
    vcf_import(patient=ada, path=path)
    assert m.GenomicVariant.objects.count() == 1 and m.GenomicReport.objects.count() == 1


def test_it_asks_for_a_sample_in_a_multi_sample_file_and_lists_them(ada, shared_data):
    with pytest.raises(CommandError, match=r"--sample.*HG00098"):
        call_command("import_vcf", str(shared_data / "vcf/wild/1kg.vcf.gz"), "--patient", ada.fhir_id)
    assert not m.GenomicVariant.objects.exists()
    call_command("import_vcf", str(shared_data / "vcf/wild/1kg.vcf.gz"), "--patient", ada.fhir_id, "--sample", "HG00098")
    assert m.GenomicReport.objects.get().sample == "HG00098" and m.GenomicVariant.objects.exists()


def test_it_names_the_line_of_a_broken_record_and_stores_nothing(ada, tmp_path):
    path = _vcf(tmp_path, "1\t500\t.\tA\tC\t.\t.\t.\tGT\t0/1\n1\tnot-a-number\t.\tA\tC\t.\t.\t.\tGT\t0/1\n")
    with pytest.raises(InvalidInput, match="line 5"):
        vcf_import(patient=ada, path=path)
    assert not m.GenomicVariant.objects.exists()
    run = m.IngestionRun.objects.get(kind="vcf")
    assert run.status == m.IngestionRun.Status.FAILED and run.errors[0]["entry"] == "line 5"


@pytest.mark.parametrize("folder", ["wild", "somatic"])
def test_it_imports_or_names_the_line_for_every_shared_vcf(ada, shared_data, folder):
    for path in sorted((shared_data / "vcf" / folder).glob("*.vcf*")):
        if path.suffix == ".tbi":
            continue
        with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
            header = next(line for line in f if line.startswith("#CHROM")).rstrip("\n").split("\t")
        header = header if len(header) > 1 else header[0].split()
        try:
            vcf_import(patient=ada, path=path, sample=header[9] if len(header) > 9 else None)
        except InvalidInput as e:
            assert "line" in str(e), f"{path.name}: {e}"


def test_it_lists_variants_actionable_first_over_rest_and_audits(ada, clinvar_brca1, tmp_path, api_client, clinician):
    vcf_import(
        patient=ada, path=_vcf(tmp_path, f"1\t100\t.\tA\tT\t.\t.\t.\tGT\t0/1\n17\t{BRCA1_POS}\t.\tG\tC\t.\t.\t.\tGT\t1/1\n")
    )
    body = api_client.get(f"/api/v1/patients/{ada.pk}/variants").json()
    assert body["count"] == 2 and body["items"][0]["gene"] == "BRCA1" and body["items"][0]["actionable"]
    assert api_client.get(f"/api/v1/patients/{ada.pk}/variants?significance=pathogenic").json()["count"] == 1
    audit = m.AuditEvent.objects.filter(action="view.variants").first()
    assert audit.patient == ada and audit.user == clinician and audit.channel == "api"


def test_it_answers_bad_requests_with_4xx(ada, api_client):
    assert api_client.get("/api/v1/patients/999999/variants").status_code == 404
    assert api_client.get(f"/api/v1/patients/{ada.pk}/variants?limit=0").status_code in (400, 422)


def test_it_shows_the_genomics_panel_on_the_patient_page(ada, clinvar_brca1, tmp_path, client, clinician):
    vcf_import(
        patient=ada, path=_vcf(tmp_path, f"17\t{BRCA1_POS}\t.\tG\tC\t.\t.\t.\tGT\t0/1\n1\t100\t.\tA\tT\t.\t.\t.\tGT\t0/1\n")
    )
    client.force_login(clinician)
    assert b'id="genomics-panel"' in client.get(f"/patients/{ada.pk}/").content
    html = client.get(f"/patients/{ada.pk}/genomics/").content.decode()
    assert html.index("BRCA1") < html.index("Other variants") and "reviewed by expert panel" in html
    filtered = client.get(f"/patients/{ada.pk}/genomics/?gene=NOPE").content.decode()
    assert "No variants match." in filtered
