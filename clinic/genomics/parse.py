"""VCF files parsed, before anything is stored: a patient's calls for one sample, and ClinVar's reference rows.

VCF 4.0–4.3, plain or bgzip (gzip reads both). Errors are InvalidInput naming the file and line.
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

from clinic.errors import InvalidInput

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


def info_fields(text: str) -> dict[str, str]:
    if text in ("", "."):
        return {}
    out = {}
    for part in text.split(";"):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def clinvar_rows(path: Path, assembly: str | None, run_id: int) -> Iterator[tuple[Any, ...]]:
    with open_text(path) as lines:
        for number, line in enumerate(lines, 1):
            if line.startswith("#"):
                if line.startswith("##reference=") and assembly is None:
                    assembly = assembly_from_header(line)
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 8 or not cols[1].isdigit():
                raise InvalidInput(f"{path.name} line {number}: expected 8 tab-separated columns with a numeric POS")
            info = info_fields(cols[7])
            genes = ",".join(g.split(":")[0] for g in info.get("GENEINFO", "").split("|") if g)
            significance = (info.get("CLNSIG") or info.get("ONC") or "").replace("_", " ")
            review = (info.get("CLNREVSTAT") or info.get("ONCREVSTAT") or "").replace("_", " ")
            conditions = (info.get("CLNDN") or info.get("ONCDN") or "").replace("_", " ").replace("|", "; ")
            for alt in cols[4].split(","):
                if len(cols[3]) + len(alt) > MAX_ALLELES:
                    continue
                yield (assembly or "GRCh38", normalise_chrom(cols[0]), int(cols[1]), cols[3], alt, cols[2], genes,
                       info.get("CLNHGVS", ""), significance, review, conditions, run_id)  # fmt: skip


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
    info = info_fields(info_text)
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
