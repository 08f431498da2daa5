"""python manage.py synthesize --patients N --seed S --out DIR [--no-vcf] — synthetic FHIR R4 transaction Bundles,
and DIR/genomics/<patient id>.vcf for the patients with a hereditary cancer syndrome."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.models import ClinVarVariant
from clinic.synthetic import synthesize_patient
from clinic.synthetic.genome import Call, Syndrome, genome_calls, pathogenic_candidates, syndrome_for, vcf_text


class Command(BaseCommand):
    help = "Write one realistic synthetic FHIR R4 transaction Bundle per patient (the same bytes for the same seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", dest="patients", type=int, default=25, help="how many patients (default 25)")
        parser.add_argument("--seed", dest="seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--out", dest="out", default="var/synthetic", help="output folder (created if missing)")
        parser.add_argument(
            "--vcf", action=argparse.BooleanOptionalAction, default=True,
            help="write OUT/genomics/<patient id>.vcf for patients with a hereditary cancer syndrome, with a "
            "pathogenic variant taken from the ClinVar table (run import_clinvar first; default on)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        patients, seed, out = int(options["patients"]), int(options["seed"]), Path(options["out"])
        if patients < 1:
            raise CommandError("--patients must be at least 1")
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        counts: Counter[str] = Counter()
        vcfs = pathogenic = 0
        candidates: dict[Syndrome, list[ClinVarVariant]] = {}
        for index in range(patients):
            name, bundle = synthesize_patient(seed=seed, index=index)
            counts.update(entry["resource"]["resourceType"] for entry in bundle["entry"])
            (out / name).write_bytes(orjson.dumps(bundle, option=orjson.OPT_INDENT_2))
            syndrome = syndrome_for(seed=seed, index=index) if options["vcf"] else None
            if syndrome is not None:
                if syndrome not in candidates:
                    candidates[syndrome] = pathogenic_candidates(genes=syndrome.genes)
                calls = genome_calls(seed=seed, index=index, candidates=candidates[syndrome])
                _write_vcf(out / "genomics", bundle, calls)
                vcfs, pathogenic = vcfs + 1, pathogenic + bool(candidates[syndrome])
        by_type = ", ".join(f"{rtype} {n}" for rtype, n in sorted(counts.items()))
        genomes = f"; {vcfs} VCFs ({pathogenic} with a ClinVar-pathogenic variant) in {out / 'genomics'}" if vcfs else ""
        self.stdout.write(
            f"Wrote {patients} bundles ({sum(counts.values())} resources: {by_type}) to {out} (seed {seed}){genomes}"
        )


def _write_vcf(folder: Path, bundle: dict[str, Any], calls: list[Call]) -> None:
    """<patient FHIR id>.vcf, one sample named after the MRN."""
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    folder.mkdir(exist_ok=True)
    (folder / f"{patient['id']}.vcf").write_text(vcf_text(sample=patient["identifier"][0]["value"], calls=calls))
