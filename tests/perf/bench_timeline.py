"""Timeline first page for a patient with 10,000 events: server time p50/p95 over 100 requests, against a
baseline that merges the source tables per request (what the timeline table saves); and what the trust rules cost:
the same requests by a clinician on the care team (the access decision, the audit row) interleaved with a
superuser's (no care-team lookup), and the access decision alone."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time

from _setup import django_on_fresh_database, percentiles


def main() -> int:
    django_on_fresh_database("timeline")
    from django.contrib.auth import get_user_model
    from django.test import Client

    from clinic import models as m
    from clinic.access import Actor, patient_access_basis
    from clinic.bulk import upsert
    from clinic.services import api_token_create
    from clinic.timeline import timeline_event
    from tests.access import user_with_roles

    rng = random.Random(7)
    patient = m.Patient.objects.create(fhir_id="bench-patient", name="Bench Patient")
    for other in range(20):  # other patients' rows share the table, as in a real hospital
        m.Patient.objects.create(fhir_id=f"other-{other}", name=f"Other {other}")
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    rows = [
        {
            "fhir_id": f"obs-{i}",
            "patient_id": patient.pk,
            "code": "4548-4",
            "display": "Hemoglobin A1c",
            "effective": start + dt.timedelta(hours=rng.randint(0, 24 * 365 * 25)),
            "value": rng.uniform(5, 10),
            "unit": "%",
            "raw": {"resourceType": "Observation", "id": f"obs-{i}"},
        }
        for i in range(10_000)
    ]
    ids = upsert(m.Observation, rows, unique=["fhir_id"])
    events = [timeline_event(m.Observation, pk, row) for pk, row in zip(ids, rows, strict=True)]
    upsert(m.TimelineEvent, [e for e in events if e], unique=["kind", "source_id"])
    print(f"patient with {m.TimelineEvent.objects.filter(patient=patient).count():,} timeline events")

    clinician = user_with_roles("bench", "clinician")
    m.CareTeamMember.objects.create(user=clinician, patient=patient)
    root = get_user_model().objects.create_user("bench-root", is_superuser=True)
    clients = {who: Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=who)}") for who in (clinician, root)}
    url = f"/api/v1/patients/{patient.pk}/timeline"
    samples: dict[object, list[float]] = {who: [] for who in clients}
    for client in clients.values():
        client.get(url)  # warm up connections and caches
    for _ in range(100):
        for who, client in clients.items():
            t = time.perf_counter()
            response = client.get(url)
            samples[who].append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
    p50, p95 = percentiles(samples[clinician])
    r50, r95 = percentiles(samples[root])
    print(
        f"timeline API, first page (50 events), 100 requests by a clinician on the care team: p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms (target p95 ≤ 50 ms); by a superuser, interleaved: p50 {r50:.1f} ms, p95 {r95:.1f} ms"
    )
    decisions = []
    for _ in range(200):
        actor = Actor(user=clinician, channel="api")
        t = time.perf_counter()
        assert patient_access_basis(actor=actor, patient_id=patient.pk) is not None
        decisions.append((time.perf_counter() - t) * 1000)
    d50, d95 = percentiles(decisions)
    print(f"the access decision alone (care-team lookup): p50 {d50:.2f} ms, p95 {d95:.2f} ms")

    base = []
    for _ in range(20):
        t = time.perf_counter()
        merged = sorted(
            list(m.Observation.objects.filter(patient=patient).values("id", "effective", "display"))
            + list(m.Encounter.objects.filter(patient=patient).values("id", "start", "type_display")),
            key=lambda r: r.get("effective") or r.get("start"),
            reverse=True,
        )[:50]
        base.append((time.perf_counter() - t) * 1000)
        assert len(merged) == 50
    b50, b95 = percentiles(base)
    print(f"baseline, merging source tables per request (query only, no HTTP): p50 {b50:.1f} ms, p95 {b95:.1f} ms")
    print(f"timeline table p95 is {b95 / p95:.1f}x faster than the baseline's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
