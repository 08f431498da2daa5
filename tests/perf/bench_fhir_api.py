"""FHIR API: a typical search (Observation?patient=…&code=…&_sort=-date) on the largest chart, and the Bulk export
rate, each against the $everything path a client would otherwise use (fetch the whole chart, filter it itself)."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from collections import Counter

from _setup import SHARED, django_on_fresh_database, percentiles


def timed(client, url: str, n: int) -> tuple[float, float, dict]:
    client.get(url)  # warm up connections and caches
    samples, body = [], {}
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.content[:200]
        body = response.json()
    return *percentiles(samples), body


def big_chart(m, upsert) -> None:
    """A chart of 10,000 observations of 20 codes over 25 years, as the timeline benchmark has."""
    rng = random.Random(7)
    patient = m.Patient.objects.create(fhir_id="bench-big", name="Bench Big", raw={"resourceType": "Patient", "id": "bench-big"})
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(10_000):
        code, when = f"{1000 + i % 20}-{i % 7}", start + dt.timedelta(hours=rng.randint(0, 24 * 365 * 25))
        raw = {"resourceType": "Observation", "id": f"big-{i}", "status": "final", "subject": {"reference": "Patient/bench-big"},
               "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "effectiveDateTime": when.isoformat(),
               "valueQuantity": {"value": rng.uniform(5, 10), "unit": "%"}}  # fmt: skip
        rows.append({"fhir_id": f"big-{i}", "patient_id": patient.pk, "code_system": "http://loinc.org", "code": code,
                     "effective": when, "status": "final", "raw": raw})  # fmt: skip
    upsert(m.Observation, rows, unique=["fhir_id"])


def main() -> int:
    if not SHARED.exists():
        print(f"bench_fhir_api: skipped, {SHARED} is absent")
        return 0
    django_on_fresh_database("fhirapi")
    from django.db.models import Count
    from django.test import Client

    from clinic import models as m
    from clinic.access import Actor
    from clinic.bulk import upsert
    from clinic.fhir.bulk import bulk_export_run, bulk_export_start
    from clinic.services import api_token_create, fhir_import_files
    from tests.access import user_with_roles

    fhir_import_files(paths=[SHARED / "fhir/synthea-notes", SHARED / "fhir/synthea-r4"])
    big_chart(m, upsert)
    user = user_with_roles("bench-engine", "integration")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)}")
    largest = m.Observation.objects.values("patient").annotate(n=Count("id")).order_by("-n")
    synthea = largest.exclude(patient__fhir_id="bench-big").first()
    print(f"{m.Patient.objects.count()} patients, {m.Observation.objects.count():,} observations")

    for label, patient_id, runs in (
        ("largest Synthea chart", synthea["patient"], 100),
        ("10,000-observation chart", largest.first()["patient"], 100),
    ):
        patient = m.Patient.objects.get(pk=patient_id)
        code = Counter(m.Observation.objects.filter(patient=patient).values_list("code", flat=True)).most_common(1)[0][0]
        url = f"/api/v1/fhir/Observation?patient={patient.fhir_id}&code={code}&_sort=-date"
        p50, p95, page = timed(client, url, runs)
        print(f"{label} ({m.Observation.objects.filter(patient=patient).count():,} observations): "
              f"search Observation?patient&code={code}&_sort=-date ({page['total']} matches, first page {len(page['entry'])}): "
              f"p50 {p50:.1f} ms, p95 {p95:.1f} ms")  # fmt: skip
        e50, e95, whole = timed(client, f"/api/v1/fhir/Patient/{patient.fhir_id}/$everything", 10)
        print(
            f"  baseline, $everything of the chart ({whole['total']:,} resources) to filter client-side: "
            f"p50 {e50:.1f} ms, p95 {e95:.1f} ms; search p95 is {e95 / p95:.0f}x faster"
        )

    patients = list(m.Patient.objects.exclude(fhir_id="bench-big").values_list("fhir_id", flat=True))
    t = time.perf_counter()
    total = 0
    for fhir_id in patients:
        total += client.get(f"/api/v1/fhir/Patient/{fhir_id}/$everything").json()["total"]
    base_rate = total / (time.perf_counter() - t)
    export = bulk_export_start(actor=Actor(user=user, channel="api"), level="system", types=[], since=None, request_url="bench")
    t = time.perf_counter()
    bulk_export_run(export_id=str(export.pk))
    elapsed = time.perf_counter() - t
    export.refresh_from_db()
    exported = sum(o["count"] for o in export.output)
    print(f"Bulk $export of every chart: {exported:,} resources in {elapsed:.1f} s = {exported / elapsed:,.0f} resources/s "
          f"(NDJSON, {len(export.output)} files)")  # fmt: skip
    print(f"baseline, $everything patient by patient ({len(patients)} charts, {total:,} resources): {base_rate:,.0f} resources/s; "
          f"bulk export is {exported / elapsed / base_rate:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
