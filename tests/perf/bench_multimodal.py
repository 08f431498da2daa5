"""Multimodal ingest and rendering: ClinVar load, VCF variants/s, DICOM instances/s, preview render ms (first, cached)."""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _setup import SHARED, django_on_fresh_database, percentiles


def _first_sample(path: Path) -> str | None:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
        header = next((line for line in f if line.startswith("#CHROM")), "").rstrip("\n")
    cols = header.split("\t") if "\t" in header else header.split()
    return cols[9] if len(cols) > 9 else None


def _clinvar_as_patient_vcf(clinvar: Path, target: Path, limit: int) -> None:
    """A patient VCF made of real ClinVar positions, so every record exercises annotation."""
    with gzip.open(clinvar, "rt") as lines, target.open("w") as out:
        out.write("##fileformat=VCFv4.2\n##reference=GRCh38\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tBENCH\n")
        written = 0
        for line in lines:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            out.write(f"chr{cols[0]}\t{cols[1]}\t.\t{cols[3]}\t{cols[4]}\t50\tPASS\tDP=30\tGT:DP\t0/1:30\n")
            written += 1
            if written == limit:
                break


def main() -> int:
    if not SHARED.exists():
        print(f"bench_multimodal: skipped, {SHARED} is absent")
        return 0
    django_on_fresh_database("multimodal")
    from django.conf import settings

    from clinic import models as m
    from clinic.errors import InvalidInput
    from clinic.genomics import clinvar_import, vcf_import
    from clinic.imaging import dicom_import, instance_preview

    patient = m.Patient.objects.create(fhir_id="bench-patient", name="Bench Patient")
    clinvar = SHARED / "vcf/clinvar_cancer_genes_GRCh38.vcf.gz"
    started = time.perf_counter()
    load = clinvar_import(path=clinvar)
    elapsed = time.perf_counter() - started
    print(f"ClinVar: {load.rows:,} variants in {elapsed:.1f} s = {load.rows / elapsed:,.0f} variants/s")

    files = [p for d in ("wild", "somatic") for p in sorted((SHARED / "vcf" / d).glob("*.vcf*")) if p.suffix != ".tbi"]
    variants, failed, started = 0, 0, time.perf_counter()
    for path in files:
        try:
            variants += vcf_import(patient=patient, path=path, sample=_first_sample(path)).num_variants
        except InvalidInput:
            failed += 1
    elapsed = time.perf_counter() - started
    print(f"VCF, shared wild+somatic: {len(files)} files ({failed} rejected with a line), {variants:,} variants "
          f"in {elapsed:.1f} s = {variants / elapsed:,.0f} variants/s (small files: per-file overhead dominates)")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "clinvar_positions.vcf"
        _clinvar_as_patient_vcf(clinvar, big, 50_000)
        started = time.perf_counter()
        report = vcf_import(patient=patient, path=big, sample="BENCH")
        elapsed = time.perf_counter() - started
    print(f"VCF, 50,000 ClinVar positions: {report.num_variants:,} variants ({report.num_pathogenic:,} pathogenic) "
          f"in {elapsed:.1f} s = {report.num_variants / elapsed:,.0f} variants/s")  # fmt: skip

    series = sorted((SHARED / "dicom/dcm_qa_nih").glob("*/*"))
    for label in ("first import", "re-import (unchanged)"):
        started = time.perf_counter()
        run = dicom_import(paths=series, patient=patient).run
        elapsed = time.perf_counter() - started
        done = run.units - run.units_failed
        print(
            f"DICOM {label}: {done} instances in {elapsed:.1f} s = {done / elapsed:,.0f} instances/s (first frame rendered at import)"
        )

    # Import already rendered each first frame; clear that cache so "first" measures a real render.
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "previews", ignore_errors=True)
    first, cached = [], []
    for instance in m.ImagingInstance.objects.all():
        started = time.perf_counter()
        instance_preview(instance=instance)
        first.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        instance_preview(instance=instance)
        cached.append((time.perf_counter() - started) * 1000)
    (f50, f95), (c50, c95) = percentiles(first), percentiles(cached)
    print(
        f"preview render over {len(first)} slices: first p50 {f50:.1f} ms, p95 {f95:.1f} ms; cached p50 {c50:.2f} ms, p95 {c95:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
