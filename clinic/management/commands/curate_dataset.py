"""python manage.py curate_dataset NAME --content notes,imaging,variants [--purpose …] [--condition CODE] …"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.curation import content_kinds, dataset_build, dataset_create
from clinic.errors import InvalidInput
from clinic.models import Dataset


class Command(BaseCommand):
    help = (
        "Curate a de-identified dataset (JSONL, DICOM, variants and a data card under MEDIA_ROOT/datasets/NAME) from "
        "a cohort, for training or evaluating models. Builds here, in this process; the admin builds on the worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a slug: letters, digits, - and _")
        parser.add_argument("--content", default="notes", help=f"comma-separated: {', '.join(content_kinds())}")
        parser.add_argument("--purpose", default="pretraining", choices=Dataset.Purpose.values)
        parser.add_argument("--condition", help="cohort: patients with this condition code (e.g. SNOMED 44054006)")
        parser.add_argument("--sex", choices=["male", "female", "other", "unknown"])
        parser.add_argument("--age-min", type=int)
        parser.add_argument("--age-max", type=int)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--min-cell", type=int, help="k of the small-cell check (default DATASET_MIN_CELL, 5): patients whose "
            "(age band, sex, ZIP3) combination fewer than k share are left out",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        criteria = {
            key: options[opt]
            for key, opt in (("condition_code", "condition"), ("sex", "sex"), ("age_min", "age_min"), ("age_max", "age_max"))
            if options[opt] is not None
        }
        try:
            dataset = dataset_create(
                name=options["name"],
                purpose=options["purpose"],
                content=[c.strip() for c in options["content"].split(",") if c.strip()],
                criteria=criteria,
                seed=options["seed"],
                min_cell=options["min_cell"],
            )
        except InvalidInput as e:
            raise CommandError(str(e)) from None
        built = dataset_build(dataset_id=dataset.pk)
        assert built is not None
        if built.status != Dataset.Status.READY:
            raise CommandError(f"{built.name}: the build failed: {built.error}")
        counts = built.card.get("counts", {})
        self.stdout.write(
            f"{built.name}: {built.patients} patients, {built.records} records, {counts.get('images', 0)} images, "
            f"{counts.get('variants', 0)} variants → MEDIA_ROOT/{built.file}/"
        )
        self.stdout.write(f"sha256 {built.sha256} (of its SHA256SUMS); data card: MEDIA_ROOT/{built.file}/card.json")
