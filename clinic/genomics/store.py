"""Variants stored: the ClinVar reference table, and a patient's VCF as one GenomicReport with its variants.

A VCF is one unit: it is parsed whole before anything is written, so a file that fails stores nothing.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from clinic import models as m
from clinic.errors import InvalidInput
from clinic.genomics.parse import ParsedVcf, clinvar_rows, file_sha256, normalise_chrom, vcf_parse
from clinic.ingestion import run_finish, run_rejected, run_start, run_unit, unit_error
from clinic.timeline import timeline_upsert


@dataclass
class ClinVarLoad:
    run: m.IngestionRun
    rows: int


_UNREADABLE = (InvalidInput, OSError, EOFError, gzip.BadGzipFile)
_CLINVAR_COLUMNS = ("assembly", "chrom", "pos", "ref", "alt", "variation_id", "gene", "hgvs", "significance",
                    "review_status", "conditions", "run_id")  # fmt: skip


def clinvar_import(*, path: Path, assembly: str | None = None) -> ClinVarLoad:
    """Load (or refresh) the ClinVar table from a VCF with COPY into a temporary table, then one upsert."""
    run = run_start(kind="clinvar")
    table = m.ClinVarVariant._meta.db_table
    cols = ", ".join(_CLINVAR_COLUMNS)
    unique = "assembly, variation_id, chrom, pos, ref, alt"
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _CLINVAR_COLUMNS if c not in unique.split(", "))
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Inside an outer transaction ON COMMIT DROP has not fired yet: drop a leftover first.
                cursor.execute("DROP TABLE IF EXISTS clinvar_load")
                cursor.execute(f"CREATE TEMP TABLE clinvar_load ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA")
                raw = cursor.connection.cursor()
                with raw.copy(f"COPY clinvar_load ({cols}) FROM STDIN") as copy:
                    for row in clinvar_rows(path, assembly, run.pk):
                        copy.write_row(row)
                cursor.execute(
                    f"INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({unique}) {cols} FROM clinvar_load "
                    f"ON CONFLICT ({unique}) DO UPDATE SET {updates}"
                )
                rows = cursor.rowcount
    except _UNREADABLE as e:
        raise _rejected(run, path, e) from None
    run_unit(run, counts={"ClinVarVariant": rows})
    run_finish(run)
    return ClinVarLoad(run=run, rows=rows)


def _annotate(variants: list[dict[str, Any]], assembly: str) -> None:
    """Copy ClinVar's gene, HGVS, significance, condition and review status onto matching variants."""
    by_chrom: dict[str, list[int]] = {}
    for v in variants:
        by_chrom.setdefault(normalise_chrom(v["chrom"]), []).append(v["pos"])
    known: dict[tuple[str, int, str, str], m.ClinVarVariant] = {}
    for chrom, positions in by_chrom.items():
        rows = m.ClinVarVariant.objects.filter(assembly=assembly, chrom=chrom, pos__in=sorted(set(positions)))
        known |= {(r.chrom, r.pos, r.ref, r.alt): r for r in rows}
    for v in variants:
        hit = known.get((normalise_chrom(v["chrom"]), v["pos"], v["ref"], v["alt"]))
        if hit is not None:
            v |= {"clinvar_id": hit.pk, "significance": hit.significance[:200], "hgvs": hit.hgvs,
                  "condition": hit.conditions, "review_status": hit.review_status[:200], "gene": hit.gene or v["gene"]}  # fmt: skip


def _is_actionable(significance: str) -> bool:
    s = significance.lower()
    return "pathogenic" in s and "conflicting" not in s


@transaction.atomic
def _store(*, patient: m.Patient, path: Path, sha: str, parsed: ParsedVcf, sample: str, assembly: str,
           run: m.IngestionRun) -> m.GenomicReport:  # fmt: skip
    unique: dict[tuple[str, int, str, str], dict[str, Any]] = {}
    for v in parsed.variants:
        unique.setdefault((v["chrom"], v["pos"], v["ref"], v["alt"]), v)
    variants = list(unique.values())
    _annotate(variants, assembly)
    report, _ = m.GenomicReport.objects.update_or_create(
        patient=patient, file_sha256=sha, sample=sample,
        defaults={"file_name": path.name[:300], "assembly": assembly, "vcf_version": parsed.version[:16],
                  "imported_at": timezone.now(), "num_variants": len(variants), "run": run,
                  "num_pathogenic": sum(_is_actionable(v.get("significance", "")) for v in variants)},
    )  # fmt: skip
    report.variants.all().delete()
    _copy_variants(report, variants)
    timeline_upsert([_report_event(report)])
    return report


_VARIANT_FIELDS = ("chrom", "pos", "ref", "alt", "variant_id", "gene", "genotype", "zygosity", "depth", "quality", "filter",
                   "clinvar_id", "significance", "hgvs", "condition", "review_status")  # fmt: skip


def _copy_variants(report: m.GenomicReport, variants: list[dict[str, Any]]) -> None:
    """COPY the rows in: bulk_create spent most of a large import building one huge parameterised INSERT."""
    limits = {f.attname: f.max_length for f in m.GenomicVariant._meta.concrete_fields if getattr(f, "max_length", None)}
    columns = ("patient_id", "report_id", "assembly", *_VARIANT_FIELDS)
    quoted = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        with raw.copy(f'COPY "{m.GenomicVariant._meta.db_table}" ({quoted}) FROM STDIN') as copy:
            for v in variants:
                values = [v.get(c, "" if c not in ("depth", "quality", "clinvar_id") else None) for c in _VARIANT_FIELDS]
                values = [
                    x[: limits[c]] if isinstance(x, str) and c in limits else x
                    for c, x in zip(_VARIANT_FIELDS, values, strict=True)
                ]
                copy.write_row((report.patient_id, report.pk, report.assembly, *values))


def _report_event(report: m.GenomicReport) -> dict[str, Any]:
    label = f" ({report.sample})" if report.sample else ""
    return {
        "patient_id": report.patient_id, "time": report.imported_at, "kind": m.TimelineEvent.Kind.GENOMICS.value,
        "title": f"Genomic report: {report.file_name}{label}"[:500],
        "summary": f"{report.num_variants} variants, {report.num_pathogenic} pathogenic/likely pathogenic ({report.assembly})",
        "flag": "!" if report.num_pathogenic else "", "encounter_id": None, "source_id": report.pk,
    }  # fmt: skip


def vcf_import(*, patient: m.Patient, path: Path, sample: str | None = None, assembly: str | None = None,
               source: str = "cli") -> m.GenomicReport:  # fmt: skip
    """Import one sample of a VCF for a patient; re-importing the same file and sample replaces its variants."""
    run = run_start(kind="vcf", source=source)
    try:
        parsed = vcf_parse(path=path, sample=sample)
        chosen = sample or (parsed.samples[0] if parsed.samples else "")
        asm = assembly or parsed.assembly or "GRCh38"
        report = _store(patient=patient, path=path, sha=file_sha256(path), parsed=parsed, sample=chosen,
                        assembly=asm, run=run)  # fmt: skip
    except _UNREADABLE as e:
        raise _rejected(run, path, e) from None
    run_unit(run, counts={"GenomicVariant": report.num_variants})
    run_finish(run)
    return report


def _rejected(run: m.IngestionRun, path: Path, error: Exception) -> InvalidInput:
    message = str(error) if isinstance(error, InvalidInput) else f"{path.name}: {error}"
    return run_rejected(run, errors=[unit_error(file=path.name, entry=_line_of(message), message=message)])


def _line_of(message: str) -> str:
    found = re.search(r"line \d+", message)
    return found.group(0) if found else ""
