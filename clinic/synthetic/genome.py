"""Synthetic germline VCFs: a family history of cancer in the notes, and a matching ClinVar-pathogenic variant.

About 30% of patients carry a hereditary cancer syndrome. Their notes name the family history, and their VCF
holds one heterozygous pathogenic variant in a gene that fits it, among common background variants. The
pathogenic variant comes from the ClinVar table, so `import_clinvar` must run first; with an empty table the
VCF holds background variants only (we ship no coordinates we could not check against ClinVar itself).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clinic import models as m

HEREDITARY_SHARE = 0.3
MAX_ALLELE_LENGTH = 12
PATHOGENIC = ("Pathogenic", "Pathogenic/Likely pathogenic")


@dataclass(frozen=True)
class Syndrome:
    key: str
    family_history: str
    genes: tuple[str, ...]


# fmt: off
SYNDROMES = [
    Syndrome("hboc", "Mother had breast cancer at 44; maternal aunt had ovarian cancer at 52.", ("BRCA1", "BRCA2", "PALB2")),
    Syndrome("ovarian", "Sister had ovarian cancer at 49; maternal grandmother had breast cancer at 41.", ("BRCA1", "BRCA2")),
    Syndrome("lynch", "Father had colon cancer at 41; paternal aunt had endometrial cancer at 50.", ("MLH1", "MSH2")),
    Syndrome("polyposis", "Father had colon cancer at 38 after more than a hundred colonic polyps.", ("APC", "MUTYH")),
    Syndrome("li-fraumeni", "Mother had a sarcoma at 33; brother had a brain tumour at 14.", ("TP53",)),
    Syndrome("pancreatic", "Father had pancreatic cancer at 58; sister had breast cancer at 46.", ("ATM", "PALB2")),
]
CONTIGS = {"1": 248956422, "2": 242193529, "3": 198295559, "5": 181538259, "7": 159345973, "11": 135086622,
           "12": 133275309, "13": 114364328, "16": 90338345, "17": 83257441, "19": 58617616, "22": 50818468}
# fmt: on
BASES = "ACGT"


@dataclass(frozen=True)
class Call:
    chrom: str
    pos: int
    ident: str
    ref: str
    alt: str
    gene: str
    genotype: str
    depth: int
    quality: int


def syndrome_for(*, seed: int, index: int) -> Syndrome | None:
    """The hereditary syndrome of this synthetic patient, or None (~70%); the same for the same seed and index."""
    rng = random.Random(f"carebase-synthetic/{seed}/{index}/hereditary")
    if rng.random() >= HEREDITARY_SHARE:
        return None
    return rng.choice(SYNDROMES)


def pathogenic_candidates(*, genes: tuple[str, ...], assembly: str = "GRCh38") -> list[m.ClinVarVariant]:
    """Short pathogenic ClinVar variants in these genes, in a stable order."""
    rows = m.ClinVarVariant.objects.filter(assembly=assembly, gene__in=genes, significance__in=PATHOGENIC)
    short = [r for r in rows.order_by("gene", "chrom", "pos", "ref", "alt", "variation_id")]
    return [r for r in short if len(r.ref) + len(r.alt) <= MAX_ALLELE_LENGTH and r.ref and r.alt and r.ref != r.alt]


def genome_calls(*, seed: int, index: int, candidates: list[m.ClinVarVariant]) -> list[Call]:
    """One heterozygous pathogenic call (when ClinVar has one to give) among 20–50 background calls."""
    rng = random.Random(f"carebase-synthetic/{seed}/{index}/genome")
    calls = [_background(rng) for _ in range(rng.randint(20, 50))]
    if candidates:
        hit = candidates[rng.randrange(len(candidates))]
        calls.append(Call(hit.chrom, hit.pos, f"clinvar{hit.variation_id}", hit.ref, hit.alt, hit.gene.split(",")[0],
                          "0/1", rng.randint(35, 80), rng.randint(300, 900)))  # fmt: skip
    unique = {(c.chrom, c.pos): c for c in calls}  # a background call never shadows the pathogenic one
    order = list(CONTIGS)
    return sorted(unique.values(), key=lambda c: (order.index(c.chrom) if c.chrom in order else len(order), c.chrom, c.pos))


def _background(rng: random.Random) -> Call:
    chrom = rng.choice(list(CONTIGS))
    ref = rng.choice(BASES)
    alt = rng.choice(BASES.replace(ref, ""))
    genotype = rng.choices(["0/1", "1/1"], weights=[3, 2])[0]
    pos = rng.randint(1_000_000, CONTIGS[chrom] - 1_000_000)
    return Call(chrom, pos, ".", ref, alt, "", genotype, rng.randint(18, 70), rng.randint(40, 900))


def vcf_text(*, sample: str, calls: list[Call]) -> str:
    """A VCF 4.2 file with one sample, GRCh38."""
    header = [
        "##fileformat=VCFv4.2",
        "##source=carebase-synthesize",
        "##reference=GRCh38",
        *(f"##contig=<ID={chrom},length={length},assembly=GRCh38>" for chrom, length in CONTIGS.items()),
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample]),
    ]
    rows = [
        "\t".join(
            [
                c.chrom,
                str(c.pos),
                c.ident,
                c.ref,
                c.alt,
                str(c.quality),
                "PASS",
                f"GENE={c.gene};DP={c.depth}" if c.gene else f"DP={c.depth}",
                "GT:DP",
                f"{c.genotype}:{c.depth}",
            ]
        )  # fmt: skip
        for c in calls
    ]
    return "\n".join(header + rows) + "\n"
