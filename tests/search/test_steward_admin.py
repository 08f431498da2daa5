"""The stewards' search admin: index status with queue lengths and re-index, knowledge document upload."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator

import pytest
import redis
from celery import shared_task
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pypdf import PdfWriter

from carebase import jobs
from carebase.jobs import broker_available, jobs_taken, queue_lengths
from clinic.models import AuditEvent, IngestionRun
from search import services
from search.models import Chunk, KnowledgeDocument
from tests.waiting import wait_until

STATUS_URL = "admin:search_chunk_status"
UPLOAD_URL = "admin:search_knowledgedocument_upload"

ASTHMA_MD = b"""# Asthma action plan

## Symptoms
Wheeze, cough and shortness of breath, worse at night.

## Treatment
Inhaled corticosteroids daily; a short-acting beta agonist for relief.
"""


@pytest.fixture
def steward_client(steward) -> Client:
    client = Client()
    client.force_login(steward)
    return client


@pytest.fixture
def knowledge(db, tmp_path) -> list[str]:
    """Three documents imported through the service `import_knowledge` uses."""
    rows = [
        {"id": "kd-1", "title": "Hypertension", "text": "Blood pressure above 140/90 on repeated readings."},
        {"id": "kd-2", "title": "Diabetes", "text": "Metformin is first line. Check HbA1c every three months."},
        {"id": "kd-3", "title": "Gout", "text": "Urate crystals in the joint. Colchicine or NSAIDs for flares."},
    ]
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    services.knowledge_import(path=path)
    return [r["id"] for r in rows]


@pytest.fixture
def empty_queues() -> Iterator[None]:
    """The test run's own embed/default queues in Redis, emptied before and after."""
    if settings.JOBS_EAGER or not broker_available():
        pytest.skip(f"needs Redis at {settings.CELERY_BROKER_URL}")
    from carebase.celery import app

    prefix = app.conf.broker_transport_options["global_keyprefix"]
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(f"{prefix}embed", f"{prefix}default")
    yield
    client.delete(f"{prefix}embed", f"{prefix}default")


def _upload(client: Client, *files: tuple[str, bytes], **fields: str):
    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    return client.post(reverse(UPLOAD_URL), {"documents": uploads, **fields}, follow=True)


def _pdf(text: str, title: str = "") -> bytes:
    """A real one-page PDF with `text` in Helvetica, offsets and xref computed."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    if not title:
        return bytes(out)
    writer = PdfWriter(clone_from=io.BytesIO(bytes(out)))
    writer.add_metadata({"/Title": title})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# Index status ---------------------------------------------------------------------------------------------------


def test_it_shows_chunks_by_type_models_and_pending_counts(steward_client, knowledge):
    chunks = Chunk.objects.filter(source_type="knowledge").count()
    assert chunks >= 3

    page = steward_client.get(reverse(STATUS_URL))

    assert page.status_code == 200
    html = page.content.decode()
    assert f'<td id="chunks-total">{chunks}</td>' in html
    assert f'<th scope="row">knowledge</th><td>{chunks}</td>' in html
    assert '<td id="embedded">0</td>' in html and f'<td id="pending">{chunks}</td>' in html
    assert "all-MiniLM-L6-v2" in html and "Re-index pending" in html


def test_it_shows_the_active_model_with_its_dimension_once_embedded(steward_client, knowledge):
    name, _ = services.indexing_model()
    services.chunks_embed(chunk_ids=services.pending_chunk_ids(model=name))

    html = steward_client.get(reverse(STATUS_URL)).content.decode()

    assert "<td>384</td>" in html  # all-MiniLM-L6-v2 vectors
    assert '<td id="pending">0</td>' in html


def test_it_counts_jobs_waiting_in_the_embed_queue(
    steward_client, db, tmp_path, empty_queues, django_capture_on_commit_callbacks
):
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps({"id": "q-1", "text": "Asthma: wheeze and cough."}), encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        services.knowledge_import(path=path)  # one embed task, sent to Redis (no worker consumes it here)

    html = steward_client.get(reverse(STATUS_URL)).content.decode()

    assert queue_lengths() == {"embed": 1, "default": 0}
    assert '<td id="queue-embed">1</td>' in html and '<td id="queue-default">0</td>' in html


started, release = threading.Event(), threading.Event()


@shared_task(name="tests.held_job")
def held_job() -> None:
    started.set()
    release.wait(30)


def test_it_counts_jobs_a_worker_has_taken_and_not_finished(steward_client, celery_worker_real):
    started.clear()
    release.clear()
    jobs._broker_checked = (0.0, False)  # asked afresh: an earlier test may have pointed at no broker
    jobs.enqueue(held_job)
    assert started.wait(30), "the worker did not take the job"
    try:
        html = steward_client.get(reverse(STATUS_URL)).content.decode()
        assert jobs_taken() == 1
        assert '<td id="jobs-taken">1</td>' in html
        assert "goes back to its queue 3600 s" in html
    finally:
        release.set()
    wait_until(lambda: jobs_taken() == 0, seconds=30, what="the job to be acknowledged once done")


def test_it_says_so_when_redis_is_unreachable(steward_client, knowledge, settings):
    settings.CELERY_BROKER_URL = "redis://:secret@127.0.0.1:1/0"

    page = steward_client.get(reverse(STATUS_URL))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="queues-unreachable"' in html and "is not reachable" in html
    assert "secret" not in html


def test_it_reindexes_documents_without_chunks_and_audits_it(steward_client, steward, db):
    KnowledgeDocument.objects.create(doc_id="loose", title="Loose", text="Written around the service: no chunks yet.")

    response = steward_client.post(reverse("admin:search_chunk_reindex"), follow=True)

    assert response.redirect_chain[-1][0] == reverse(STATUS_URL)
    assert Chunk.objects.filter(source_type="knowledge", source_id="loose").count() == 1
    assert "1 new chunks; 1 chunks queued for embedding." in response.content.decode()
    event = AuditEvent.objects.get(action="index.requeue")
    assert (event.user, event.channel, event.detail["new_chunks"], event.detail["queued_chunks"]) == (steward, "admin", 1, 1)


def test_it_only_reindexes_on_post(steward_client, db):
    assert steward_client.get(reverse("admin:search_chunk_reindex")).status_code == 405
    assert not AuditEvent.objects.filter(action="index.requeue").exists()


def test_it_sends_non_staff_to_the_admin_login(logged_in, knowledge):
    for response in (
        logged_in.get(reverse(STATUS_URL)),
        logged_in.post(reverse("admin:search_chunk_reindex")),
        logged_in.post(reverse(UPLOAD_URL), {"documents": [SimpleUploadedFile("x.md", b"# X\nbody")]}),
    ):
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not AuditEvent.objects.filter(action__in=["index.requeue", "knowledge.upload"]).exists()
    assert KnowledgeDocument.objects.count() == 3


def test_it_links_status_and_upload_from_the_changelists(steward_client, knowledge):
    documents = steward_client.get(reverse("admin:search_knowledgedocument_changelist")).content.decode()
    chunks = steward_client.get(reverse("admin:search_chunk_changelist")).content.decode()

    assert reverse(UPLOAD_URL) in documents and reverse(STATUS_URL) in documents
    assert reverse(STATUS_URL) in chunks and "kd-2" in chunks


# Knowledge upload ------------------------------------------------------------------------------------------------


def test_it_imports_markdown_and_text_files_as_chunked_documents(steward_client, steward):
    response = _upload(
        steward_client,
        ("Asthma_Plan.md", ASTHMA_MD),
        ("gout notes.txt", b"Colchicine for acute flares.\nAllopurinol lowers urate."),
        source="ward guidelines",
        url="https://example.org/guidelines",
    )

    assert response.redirect_chain[-1][0] == reverse("admin:search_knowledgedocument_changelist")
    assert "Imported 2 document(s): asthma_plan, gout-notes; indexing queued." in response.content.decode()
    asthma = KnowledgeDocument.objects.get(doc_id="asthma_plan")
    assert (asthma.title, asthma.source, asthma.url) == (
        "Asthma action plan",
        "ward guidelines",
        "https://example.org/guidelines",
    )
    assert KnowledgeDocument.objects.get(doc_id="gout-notes").title == "gout notes"
    sections = list(Chunk.objects.filter(source_type="knowledge", source_id="asthma_plan").values_list("section", flat=True))
    assert sections == ["Symptoms", "Treatment"]
    assert Chunk.objects.filter(source_type="knowledge", source_id="gout-notes").exists()
    event = AuditEvent.objects.get(action="knowledge.upload")
    assert (event.user, event.channel, event.detail["documents"], event.detail["rejected"]) == (
        steward, "admin", ["asthma_plan", "gout-notes"], []
    )  # fmt: skip


def test_it_updates_a_reuploaded_file_instead_of_duplicating_it(steward_client):
    _upload(steward_client, ("asthma-plan.md", ASTHMA_MD))
    first_chunks = Chunk.objects.filter(source_id="asthma-plan").count()
    _upload(steward_client, ("asthma-plan.md", ASTHMA_MD))
    assert Chunk.objects.filter(source_id="asthma-plan").count() == first_chunks

    _upload(steward_client, ("asthma-plan.md", ASTHMA_MD.replace(b"daily", b"twice daily")))

    assert KnowledgeDocument.objects.filter(doc_id="asthma-plan").count() == 1
    assert "twice daily" in KnowledgeDocument.objects.get().text
    chunks = Chunk.objects.filter(source_id="asthma-plan")
    assert chunks.count() == first_chunks and chunks.filter(text__contains="twice daily").count() == 1


def test_it_rejects_bad_files_by_name_and_still_imports_the_others(steward_client):
    response = _upload(
        steward_client,
        ("empty.txt", b"  \n"),
        ("letter.docx", b"PK\x03\x04 a word file"),
        ("latin1.txt", "Fièvre et toux".encode("latin-1")),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf"),
        ("good.md", ASTHMA_MD),
    )

    assert response.status_code == 400
    html = response.content.decode()
    for expected in (
        "Rejected empty.txt: the file is empty",
        "Rejected letter.docx: expected a .md, .txt or .pdf file",
        "Rejected latin1.txt: not UTF-8 text",
        "Rejected broken.pdf: not a readable PDF",
    ):
        assert expected in html
    assert "nothing from it was stored" in html and "Imported 1 document(s): good" in html
    assert list(KnowledgeDocument.objects.values_list("doc_id", flat=True)) == ["good"]
    assert set(Chunk.objects.values_list("source_id", flat=True)) == {"good"}
    assert len(AuditEvent.objects.get(action="knowledge.upload").detail["rejected"]) == 4
    run = IngestionRun.objects.get(kind="knowledge")
    assert (run.source, run.status, run.units, run.units_failed, run.counts) == (
        "admin",
        "partial",
        5,
        4,
        {"KnowledgeDocument": 1},
    )
    assert [e["file"] for e in run.errors] == ["empty.txt", "letter.docx", "latin1.txt", "broken.pdf"]


def test_it_stores_nothing_when_every_file_is_rejected(steward_client):
    response = _upload(steward_client, ("scan.pdf", _pdf("")), ("blank.md", b""))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Rejected scan.pdf: no text found" in html and "Rejected blank.md: the file is empty" in html
    assert not KnowledgeDocument.objects.exists() and not Chunk.objects.exists()


def test_it_imports_the_text_of_a_pdf(steward_client):
    _upload(steward_client, ("metformin_guide.pdf", _pdf("Metformin lowers hepatic glucose output.")))
    _upload(steward_client, ("titled.pdf", _pdf("Statins lower LDL cholesterol.", title="Lipid guideline")))

    metformin = KnowledgeDocument.objects.get(doc_id="metformin_guide")
    assert (metformin.title, metformin.text) == ("metformin guide", "Metformin lowers hepatic glucose output.")
    assert KnowledgeDocument.objects.get(doc_id="titled").title == "Lipid guideline"
    assert Chunk.objects.filter(source_id="metformin_guide", text__contains="hepatic glucose").exists()


def test_it_reads_a_large_pdf_on_the_worker_and_reports_it_in_a_run(steward_client, settings, django_capture_on_commit_callbacks):
    settings.JOBS_EAGER, settings.PDF_INLINE_MAX_BYTES = True, 100
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(steward_client, ("big_guide.pdf", _pdf("Insulin glargine is a long-acting insulin.")))
    run = IngestionRun.objects.get(kind="knowledge")
    assert f"read on the worker: see ingestion run #{run.pk}" in response.content.decode()
    assert (run.status, run.units, run.counts) == ("succeeded", 1, {"KnowledgeDocument": 1})
    assert KnowledgeDocument.objects.get(doc_id="big_guide").text == "Insulin glargine is a long-acting insulin."
    assert not list((settings.DATA_DIR / "uploads").glob(f"knowledge-{run.pk}*"))


def test_it_asks_for_at_least_one_file(steward_client, db):
    response = steward_client.post(reverse(UPLOAD_URL), {"source": "x"})

    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert not AuditEvent.objects.filter(action="knowledge.upload").exists()
