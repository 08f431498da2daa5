"""Genomics: ClinVar reference loading, a patient's VCF → GenomicVariant rows, and the reads over them.

VCF 4.0–4.3, plain or bgzip (gzip reads both). A VCF is one unit: it is parsed whole before anything is
written, so a file that fails (with its line named) stores nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from clinic import models as m
from clinic.errors import InvalidInput
from clinic.fhir.importer import run_finish, run_start
from clinic.timeline import timeline_upsert

# Alleles longer than this cannot sit in the unique btree index (2,704 bytes a row); such large indels are skipped.
MAX_ALLELES = 1000
_GT_SPLIT = re.compile(r"[/|]")


def normalise_chrom(chrom: str) -> str:
    """ClinVar and callers disagree on "chr1" vs "1" and "M" vs "MT": compare without the prefix."""
    bare = chrom[3:] if chrom.lower().startswith("chr") else chrom
    return "MT" if bare.upper() == "M" else bare


def open_text(path: Path) -> io.TextIOBase:
    with path.open("rb") as f:
        magic = f.read(2)
    raw: Any = gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assembly_from_header(line: str) -> str | None:
    value = line.lower()
    if any(k in value for k in ("grch38", "hg38", "b38")):
        return "GRCh38"
    if any(k in value for k in ("grch37", "hg19", "b37", "human_g1k_v37", "hs37")):
        return "GRCh37"
    return None


def _info(text: str) -> dict[str, str]:
    if text in ("", "."):
        return {}
    out = {}
    for part in text.split(";"):
        key, _, value = part.partition("=")
        out[key] = value
    return out


# --- ClinVar reference table


@dataclass
class ClinVarLoad:
    run: m.IngestionRun
    rows: int


_CLINVAR_COLUMNS = ("assembly", "chrom", "pos", "ref", "alt", "variation_id", "gene", "hgvs", "significance",
                    "review_status", "conditions", "run_id")  # fmt: skip


def _clinvar_rows(path: Path, assembly: str | None, run_id: int) -> Iterator[tuple[Any, ...]]:
    with open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            if line.startswith("#"):
                if line.startswith("##reference=") and assembly is None:
                    assembly = assembly_from_header(line)
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 8 or not cols[1].isdigit():
                raise InvalidInput(f"{path.name} line {number}: expected 8 tab-separated columns with a numeric POS")
            info = _info(cols[7])
            genes = ",".join(g.split(":")[0] for g in info.get("GENEINFO", "").split("|") if g)
            significance = (info.get("CLNSIG") or info.get("ONC") or "").replace("_", " ")
            review = (info.get("CLNREVSTAT") or info.get("ONCREVSTAT") or "").replace("_", " ")
            conditions = (info.get("CLNDN") or info.get("ONCDN") or "").replace("_", " ").replace("|", "; ")
            for alt in cols[4].split(","):
                if len(cols[3]) + len(alt) > MAX_ALLELES:
                    continue
                yield (assembly or "GRCh38", normalise_chrom(cols[0]), int(cols[1]), cols[3], alt, cols[2], genes,
                       info.get("CLNHGVS", ""), significance, review, conditions, run_id)  # fmt: skip


def clinvar_import(*, path: Path, assembly: str | None = None) -> ClinVarLoad:
    """Load (or refresh) the ClinVar table from a VCF with COPY into a temporary table, then one upsert."""
    run = run_start(kind="clinvar")
    run.units = 1
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
                    for row in _clinvar_rows(path, assembly, run.pk):
                        copy.write_row(row)
                cursor.execute(
                    f"INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({unique}) {cols} FROM clinvar_load "
                    f"ON CONFLICT ({unique}) DO UPDATE SET {updates}"
                )
                rows = cursor.rowcount
    except (InvalidInput, OSError, EOFError, gzip.BadGzipFile) as e:
        run.units_failed = 1
        run.errors = [{"file": path.name, "entry": "", "field": "", "message": str(e)}]
        run_finish(run)
        raise InvalidInput(f"{path.name}: {e}", run.errors) from None
    run.counts = {"ClinVarVariant": rows}
    run_finish(run)
    return ClinVarLoad(run=run, rows=rows)


# --- a patient's VCF


@dataclass
class ParsedVcf:
    version: str = ""
    assembly: str | None = None
    samples: list[str] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)


def genotype_zygosity(gt: str, allele: int) -> tuple[str, str] | None:
    """(genotype, zygosity) of one ALT allele (1-based) in a GT value; None where the sample does not carry it."""
    calls = _GT_SPLIT.split(gt)
    called = [c for c in calls if c not in (".", "")]
    if str(allele) not in called:
        return None
    if len(calls) == 1:
        return gt, "hemizygous"
    if all(c == str(allele) for c in calls):
        return gt, "homozygous"
    return gt, "heterozygous"


def _gene(info: dict[str, str]) -> str:
    if info.get("GENEINFO"):
        return info["GENEINFO"].split(":")[0]
    for key in ("GENE", "Gene", "SYMBOL"):
        if info.get(key):
            return info[key]
    for key, index in (("ANN", 3), ("CSQ", 3)):
        parts = info.get(key, "").split(",")[0].split("|")
        if len(parts) > index and parts[index]:
            return parts[index]
    return ""


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text) if text not in ("", ".") else None
    except ValueError:
        return None


def vcf_parse(*, path: Path, sample: str | None) -> ParsedVcf:
    """Parse a VCF for one sample (or a sites-only file). Raises InvalidInput naming the line."""
    parsed = ParsedVcf()
    column: int | None = None
    with open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if line.startswith("##"):
                if line.startswith("##fileformat="):
                    parsed.version = line.split("=", 1)[1].strip()
                elif line.startswith(("##reference=", "##assembly=")) or (line.startswith("##contig") and "assembly=" in line):
                    parsed.assembly = parsed.assembly or assembly_from_header(line)
                continue
            if line.startswith("#CHROM"):
                header = line.split("\t") if "\t" in line else line.split()
                parsed.samples = header[9:]
                column = _sample_column(path, parsed.samples, sample)
                continue
            if not line.strip():
                continue
            if column is None and not parsed.samples and not parsed.variants and number == 1:
                raise InvalidInput(f"{path.name} line 1: not a VCF (no ##fileformat or #CHROM header)")
            parsed.variants.extend(_record(path, number, line, column))
    if not parsed.version.startswith("VCF"):
        raise InvalidInput(f"{path.name} line 1: not a VCF (expected ##fileformat=VCFv4.x)")
    return parsed


def _sample_column(path: Path, samples: list[str], sample: str | None) -> int | None:
    if sample:
        if sample not in samples:
            listed = ", ".join(samples) or "none (sites-only file)"
            raise InvalidInput(f"{path.name}: no sample {sample!r}; samples in the file: {listed}")
        return 9 + samples.index(sample)
    if len(samples) > 1:
        shown = ", ".join(samples[:20]) + (f", … ({len(samples)} samples)" if len(samples) > 20 else "")
        raise InvalidInput(f"{path.name} has {len(samples)} samples; choose one with --sample NAME. Samples: {shown}")
    return 9 if samples else None


def _record(path: Path, number: int, line: str, column: int | None) -> Iterator[dict[str, Any]]:
    cols = line.split("\t")
    if len(cols) < 8:
        raise InvalidInput(f"{path.name} line {number}: {len(cols)} columns, a VCF record needs at least 8 (tab-separated)")
    chrom, pos_text, ident, ref, alts, qual, filt, info_text = cols[:8]
    if not pos_text.isdigit():
        raise InvalidInput(f"{path.name} line {number}: POS {pos_text!r} is not a number")
    info = _info(info_text)
    fmt: dict[str, str] = {}
    if column is not None and len(cols) > column:
        fmt = dict(zip(cols[8].split(":"), cols[column].split(":"), strict=False))
    for index, alt in enumerate(alts.split(","), 1):
        if alt in (".", "*", "<NON_REF>", "<*>") or len(ref) + len(alt) > MAX_ALLELES:
            continue
        genotype, zygosity = "", ""
        if column is not None:
            carried = genotype_zygosity(fmt.get("GT", ""), index)
            if carried is None:
                continue
            genotype, zygosity = carried
        yield {
            "chrom": chrom, "pos": int(pos_text), "ref": ref, "alt": alt, "variant_id": ident if ident != "." else "",
            "gene": _gene(info), "genotype": genotype, "zygosity": zygosity,
            "depth": _number(fmt.get("DP") or info.get("DP", ""), int), "quality": _number(qual, float),
            "filter": "" if filt == "." else filt[:200],
        }  # fmt: skip


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
    run.units = 1
    try:
        parsed = vcf_parse(path=path, sample=sample)
        chosen = sample or (parsed.samples[0] if parsed.samples else "")
        asm = assembly or parsed.assembly or "GRCh38"
        report = _store(patient=patient, path=path, sha=file_sha256(path), parsed=parsed, sample=chosen,
                        assembly=asm, run=run)  # fmt: skip
    except (InvalidInput, OSError, EOFError, gzip.BadGzipFile) as e:
        run.units_failed = 1
        message = str(e) if isinstance(e, InvalidInput) else f"{path.name}: {e}"
        run.errors = [{"file": path.name, "entry": _line_of(message), "field": "", "message": message}]
        run_finish(run)
        raise InvalidInput(message, run.errors) from None
    run.counts = {"GenomicVariant": report.num_variants}
    run_finish(run)
    return report


def _line_of(message: str) -> str:
    found = re.search(r"line \d+", message)
    return found.group(0) if found else ""


# --- reads


def patient_variants(*, patient: m.Patient, significance: str = "", gene: str = "") -> QuerySet[m.GenomicVariant]:
    """A patient's variants, actionable (pathogenic / likely pathogenic) first, then by position."""
    rows = m.GenomicVariant.objects.filter(patient=patient)
    if significance:
        rows = rows.filter(significance__icontains=significance)
    if gene:
        rows = rows.filter(gene__iexact=gene)
    actionable = Case(
        When(significance__icontains="conflicting", then=Value(1)),
        When(significance__icontains="pathogenic", then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    return rows.annotate(rank=actionable).order_by("rank", "chrom", "pos", "id")


def patient_resolve(*, ident: str) -> m.Patient:
    """The patient a command names by FHIR id, MRN or numeric id; InvalidInput when none or several match."""
    for lookup in ({"fhir_id": ident}, {"mrn": ident}):
        found = list(m.Patient.objects.filter(**lookup)[:2])
        if len(found) == 1:
            return found[0]
    if ident.isdigit() and (by_pk := m.Patient.objects.filter(pk=int(ident)).first()):
        return by_pk
    raise InvalidInput(f"--patient {ident}: no patient with that FHIR id, MRN or id")


def variant_panel(*, patient: m.Patient, significance: str = "", gene: str = "", limit: int = 300) -> dict[str, Any]:
    """What the genomics panel shows: reports, all actionable variants, then a filtered page of the others."""
    rows = m.GenomicVariant.objects.filter(patient=patient)
    actionable = [v for v in rows.filter(significance__icontains="pathogenic").order_by("gene", "pos") if v.is_actionable]
    others = patient_variants(patient=patient, significance=significance, gene=gene).exclude(pk__in=[v.pk for v in actionable])
    choices = sorted(set(rows.exclude(significance="").values_list("significance", flat=True)))
    page = list(others[: limit + 1])
    return {
        "reports": list(patient.genomic_reports.order_by("-imported_at")),
        "actionable": actionable,
        "others": page[:limit],
        "more": len(page) > limit,
        "others_count": others.count() if len(page) > limit else len(page),
        "significance_choices": choices,
    }
