"""FHIR import rate on the shared Synthea sets, against importing one resource at a time through the ORM."""

from __future__ import annotations

import sys
import time

from _setup import SHARED, django_on_fresh_database


def main() -> int:
    if not SHARED.exists():
        print(f"bench_fhir_import: skipped, {SHARED} is absent")
        return 0
    django_on_fresh_database("fhir")
    from django.db import transaction

    from clinic import models as m
    from clinic.fhir.importer import _rewrite_references, read_entries, run_finish, run_start
    from clinic.fhir.mapping import MAPPERS
    from clinic.services import fhir_import_files

    paths = [SHARED / "fhir/synthea-notes", SHARED / "fhir/synthea-r4"]
    started = time.perf_counter()
    run = fhir_import_files(paths=paths)
    elapsed = time.perf_counter() - started
    total = sum(run.counts.values())
    rate = total / elapsed
    print(
        f"bulk importer: {total} resources from {run.units} files in {elapsed:.1f} s = {rate:,.0f} resources/s (target ≥ 2,000)"
    )

    # Baseline: the same kind of rows, one resource at a time through the ORM (update_or_create per resource).
    sample = sorted((SHARED / "fhir/synthea-r4").glob("*.json"))[:10]
    base_run = run_start(kind="fhir", source="bench")
    m.Patient.objects.all().delete()
    count = 0
    started = time.perf_counter()
    for path in sample:
        entries = read_entries(str(path), path.read_bytes())
        url_map = {e.full_url: f"{e.resource['resourceType']}/{e.resource.get('id')}" for e in entries}
        with transaction.atomic():
            patient_pk: dict[str, int] = {}
            encounter_pk: dict[str, int] = {}
            for rtype in MAPPERS:
                for entry in (e for e in entries if e.resource["resourceType"] == rtype):
                    model, mapper = MAPPERS[rtype]
                    _rewrite_references(entry.resource, url_map, {}, [])
                    row = mapper(entry.resource)
                    patient_ref = (row.pop("patient_ref", None) or "").partition("/")[2]
                    encounter_ref = (row.pop("encounter_ref", None) or "").partition("/")[2]
                    # Columns only: values such as an ImagingStudy's series are rows of their own in the importer.
                    columns = {f.attname for f in model._meta.concrete_fields}
                    row = {k: v for k, v in row.items() if k in columns}
                    if "patient_id" in columns:
                        row["patient_id"] = patient_pk.get(patient_ref)
                    if "encounter_id" in columns:
                        row["encounter_id"] = encounter_pk.get(encounter_ref)
                    obj, _ = model.objects.update_or_create(fhir_id=entry.resource["id"], defaults={**row, "raw": entry.resource})
                    if model is m.Patient:
                        patient_pk[obj.fhir_id] = obj.pk
                    if model is m.Encounter:
                        encounter_pk[obj.fhir_id] = obj.pk
                    count += 1
    base_elapsed = time.perf_counter() - started
    run_finish(base_run)
    base_rate = count / base_elapsed
    print(
        f"baseline, one resource at a time through the ORM: {count} resources in {base_elapsed:.1f} s = {base_rate:,.0f} resources/s"
    )
    print(f"bulk importer is {rate / base_rate:.1f}x the per-resource ORM baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
