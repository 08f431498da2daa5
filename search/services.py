"""Writes of the search app: knowledge import, chunking sources, embedding chunks, switching models."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from carebase.files import write_atomically
from carebase.jobs import enqueue
from clinic.access import Actor, readable_patient_ids, require_patient
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.ingestion import run_finish, run_rejected, run_start, run_unit, unit_error
from clinic.models import ClinicalNote, DiagnosticReport, IngestionRun
from search import embedding
from search.chunking import chunk_text
from search.documents import document_text
from search.models import Chunk, ChunkEmbedding, IndexState, KnowledgeDocument
from search.negation import text_context
from search.selectors import SearchHit, search_chunks

EMBED_BATCH = 64  # chunks per Celery task: one transaction each, so a killed worker loses or duplicates nothing
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(section, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(text, '')), 'C')"
)


@dataclass(frozen=True)
class Source:
    source_type: str
    source_id: str
    patient_id: int | None
    title: str
    note_type: str
    date: Any
    text: str


def knowledge_import(*, path: Path, source: str = "cli") -> int:
    """Load a JSONL of {id, title, text, source?, url?}; all lines or none, as one ingestion run of one unit.
    Returns the documents written."""
    run = run_start(kind="knowledge", source=source)
    try:
        docs = _knowledge_parse(path)
    except InvalidInput as exc:
        raise run_rejected(run, errors=exc.errors or [unit_error(file=str(path), message=str(exc))], message=str(exc)) from None
    with transaction.atomic():
        _knowledge_store(docs)
    run_unit(run, counts={"KnowledgeDocument": len(docs)})
    run_finish(run)
    return len(docs)


@dataclass(frozen=True)
class KnowledgeUpload:
    documents: list[str]  # ids written (created or updated)
    rejected: list[str]  # one message per rejected file, naming it
    queued: list[str] = field(default_factory=list)  # large PDFs read on the worker
    queued_run: int | None = None  # the ingestion run that reports on them


def knowledge_upload(*, files: list[tuple[str, bytes]], actor: Actor, source: str = "", url: str = "") -> KnowledgeUpload:
    """Store uploaded .md/.txt/.pdf files as knowledge documents; a bad file is rejected alone, the others import.
    PDFs over PDF_INLINE_MAX_BYTES are read on the worker (their own ingestion run reports on them)."""
    large = [(n, d) for n, d in files if n.lower().endswith(".pdf") and len(d) > settings.PDF_INLINE_MAX_BYTES]
    queued_run = knowledge_queue(files=large, actor=actor, source=source, url=url) if large else None
    files = [f for f in files if f not in large]
    result = knowledge_read(files=files, actor=actor, source=source, url=url) if files or not large else None
    return KnowledgeUpload(
        documents=result.documents if result else [],
        rejected=result.rejected if result else [],
        queued=[name for name, _ in large],
        queued_run=queued_run.pk if queued_run else None,
    )


def knowledge_queue(*, files: list[tuple[str, bytes]], actor: Actor, source: str, url: str) -> IngestionRun:
    """Keep large files under DATA_DIR/uploads and read them on the worker, in a run of their own."""
    run = run_start(kind="knowledge", source="admin", user=actor.user)
    folder = settings.DATA_DIR / "uploads" / f"knowledge-{run.pk}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        write_atomically(folder / Path(name).name, data)  # the worker never sees half a file
    from search.tasks import knowledge_files_import

    audit(actor=actor, action=Action.KNOWLEDGE_UPLOAD, target=f"IngestionRun/{run.pk}", detail={"queued": [n for n, _ in files]})
    enqueue(knowledge_files_import, run.pk, str(folder), source, url)
    return run


def knowledge_queued_import(*, run_id: int, folder: str, source: str, url: str) -> None:
    """Read queued files into their run (idempotent: a finished run is left alone); the files go when done."""
    run = IngestionRun.objects.filter(pk=run_id, finished_at=None).select_related("user").first()
    where = Path(folder)
    if run is not None and where.is_dir():
        files = [(p.name, p.read_bytes()) for p in sorted(where.iterdir()) if not p.name.endswith(".part")]
        knowledge_read(files=files, actor=Actor(user=run.user, channel="worker"), source=source, url=url, run=run)
    shutil.rmtree(where, ignore_errors=True)


def knowledge_read(
    *, files: list[tuple[str, bytes]], actor: Actor, source: str = "", url: str = "", run: IngestionRun | None = None
) -> KnowledgeUpload:
    """Read files into knowledge documents now, one run accounting for them; a bad file is rejected alone."""
    run = run or run_start(kind="knowledge", source="admin", user=actor.user)
    docs: dict[str, KnowledgeDocument] = {}
    rejected: list[str] = []
    for name, data in files:
        try:
            parsed = document_text(name=name, data=data)
        except InvalidInput as exc:
            rejected.append(str(exc))
            run_unit(run, errors=[unit_error(file=name, message=str(exc))])
            continue
        run_unit(run)
        docs[parsed.doc_id] = KnowledgeDocument(
            doc_id=parsed.doc_id, title=parsed.title, text=parsed.text, source=source[:200], url=url[:1000]
        )
    with transaction.atomic():
        if docs:
            _knowledge_store(list(docs.values()))
        audit(
            actor=actor,
            action=Action.KNOWLEDGE_UPLOAD,
            target=", ".join(docs)[:300],
            detail={"files": [name for name, _ in files], "documents": list(docs), "rejected": rejected},
        )
    run_finish(run, counts={"KnowledgeDocument": len(docs)})
    return KnowledgeUpload(documents=list(docs), rejected=rejected)


def _knowledge_store(docs: list[KnowledgeDocument]) -> None:
    """Upsert documents by id, re-chunk the changed ones and queue their embeddings on commit."""
    KnowledgeDocument.objects.bulk_create(
        docs,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["doc_id"],
        update_fields=["title", "text", "source", "url", "imported_at"],
    )
    ids = list(KnowledgeDocument.objects.filter(doc_id__in=[d.doc_id for d in docs]).values_list("pk", flat=True))
    chunks_enqueue(chunk_ids=sources_chunk(sources=_knowledge_sources(ids)))


def _knowledge_parse(path: Path) -> list[KnowledgeDocument]:
    errors: list[dict[str, Any]] = []
    docs: dict[str, KnowledgeDocument] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            errors.append(unit_error(file=str(path), entry=f"line {number}", message=f"not JSON: {exc}"))
            continue
        missing = [f for f in ("id", "text") if not isinstance(row, dict) or not str(row.get(f) or "").strip()]
        if missing:
            errors.append(unit_error(file=str(path), entry=f"line {number}", field=missing[0], message="required"))
            continue
        doc_id = str(row["id"])[:200]
        docs[doc_id] = KnowledgeDocument(
            doc_id=doc_id,
            title=str(row.get("title") or "")[:1000],
            text=str(row["text"]),
            source=str(row.get("source") or "")[:200],
            url=str(row.get("url") or "")[:1000],
        )
    if errors:
        first = errors[0]
        where = f"{first['file']} {first['entry']}" + (f", field {first['field']!r}" if first["field"] else "")
        raise InvalidInput(f"{where}: {first['message']} ({len(errors)} bad lines; nothing imported)", errors)
    if not docs:
        raise InvalidInput(f"{path}: no documents")
    return list(docs.values())


def _knowledge_sources(pks: Iterable[int]) -> list[Source]:
    return [
        Source("knowledge", d.doc_id, None, d.title, d.source, None, d.text)
        for d in KnowledgeDocument.objects.filter(pk__in=list(pks))
    ]


def _note_sources(pks: Iterable[int]) -> list[Source]:
    return [
        Source("note", str(n.pk), n.patient_id, n.title, n.display or n.category, n.date, n.text)
        for n in ClinicalNote.objects.filter(pk__in=list(pks))
    ]


def _report_sources(pks: Iterable[int]) -> list[Source]:
    return [
        Source(
            "report",
            str(r.pk),
            r.patient_id,
            r.display,
            r.category,
            r.effective or r.issued,
            "\n".join(t for t in (r.text, f"Conclusion: {r.conclusion}" if r.conclusion else "") if t),
        )
        for r in DiagnosticReport.objects.filter(pk__in=list(pks))
    ]


SOURCE_LOADERS = {"clinic.ClinicalNote": _note_sources, "clinic.DiagnosticReport": _report_sources}


def records_index(*, model_label: str, ids: list[int]) -> list[int]:
    """Chunk changed clinic rows and queue their embeddings. Returns the new chunk ids."""
    loader = SOURCE_LOADERS.get(model_label)
    if loader is None:
        return []
    with transaction.atomic():
        chunk_ids = sources_chunk(sources=loader(ids))
        chunks_enqueue(chunk_ids=chunk_ids)
    return chunk_ids


def sources_chunk(*, sources: list[Source]) -> list[int]:
    """Replace the chunks of each source whose text changed; unchanged sources keep chunks and vectors."""
    if not sources:
        return []
    existing: dict[tuple[str, str], list[tuple[str, str]]] = {}
    keys = {(s.source_type, s.source_id) for s in sources}
    by_type: dict[str, list[str]] = {}
    for s in sources:
        by_type.setdefault(s.source_type, []).append(s.source_id)
    for source_type, ids in by_type.items():
        rows = Chunk.objects.filter(source_type=source_type, source_id__in=ids).order_by("ordinal")
        for row in rows.values_list("source_type", "source_id", "section", "text"):
            existing.setdefault((row[0], row[1]), []).append((row[2], row[3]))
    new_rows: list[Chunk] = []
    stale: list[tuple[str, str]] = []
    for s in sources:
        pieces = chunk_text(s.text)
        if existing.get((s.source_type, s.source_id), []) == [(p.section, p.text) for p in pieces]:
            continue
        stale.append((s.source_type, s.source_id))
        for ordinal, piece in enumerate(pieces):
            ctx = text_context(piece.text)
            new_rows.append(
                Chunk(
                    source_type=s.source_type,
                    source_id=s.source_id,
                    patient_id=s.patient_id,
                    ordinal=ordinal,
                    title=s.title[:1000],
                    section=piece.section,
                    note_type=s.note_type[:300],
                    date=s.date,
                    text=piece.text,
                    negated=ctx.negated,
                    uncertain=ctx.uncertain,
                    other_subject=ctx.other_subject,
                )
            )
    assert keys  # sources were given
    for source_type in by_type:
        ids = [sid for t, sid in stale if t == source_type]
        if ids:
            Chunk.objects.filter(source_type=source_type, source_id__in=ids).delete()
    created = Chunk.objects.bulk_create(new_rows, batch_size=2000)
    chunk_ids = [c.pk for c in created]
    with connection.cursor() as cursor:
        for start in range(0, len(chunk_ids), 5000):
            cursor.execute(
                f"UPDATE search_chunk SET search_vector = {SEARCH_VECTOR_SQL} WHERE id = ANY(%s)",
                [chunk_ids[start : start + 5000]],
            )
    return chunk_ids


def indexing_model() -> tuple[str, str]:
    """(name, path) of the model new vectors are made with: the target of a model change, else the active one."""
    state = IndexState.current()
    name = state.target_model or state.active_model or embedding.configured_model()[0]
    return name, embedding.model_path(name)


def chunks_enqueue(*, chunk_ids: list[int]) -> int:
    """Queue embedding tasks for these chunks, in batches. Returns the number of tasks."""
    from search.tasks import embed_chunks

    batches = [chunk_ids[i : i + EMBED_BATCH] for i in range(0, len(chunk_ids), EMBED_BATCH)]
    for batch in batches:
        enqueue(embed_chunks, batch)
    return len(batches)


def pending_chunk_ids(*, model: str) -> list[int]:
    """Chunks without a vector under this model."""
    return list(Chunk.objects.exclude(embeddings__model=model).order_by("pk").values_list("pk", flat=True))


def chunks_embed(*, chunk_ids: list[int]) -> int:
    """Embed the chunks still missing a vector under the indexing model; one transaction, conflicts ignored."""
    name, path = indexing_model()
    todo = list(
        Chunk.objects.filter(pk__in=chunk_ids).exclude(embeddings__model=name).values_list("pk", "patient_id", "title", "text")
    )
    if not todo:
        return 0
    vectors = embedding.encode([_embedding_text(title, text) for _, _, title, text in todo], path=path)
    rows = [
        ChunkEmbedding(chunk_id=pk, patient_id=patient_id, model=name, dimension=len(vector), embedding=vector)
        for (pk, patient_id, _, _), vector in zip(todo, vectors, strict=True)
    ]
    with transaction.atomic():
        ChunkEmbedding.objects.bulk_create(rows, ignore_conflicts=True)
    model_switch_if_complete()
    return len(rows)


def _embedding_text(title: str, text: str) -> str:
    return f"{title}. {text}" if title else text


def model_switch_if_complete() -> bool:
    """Serve the indexing model once every chunk has its vector; drop the old model's vectors then."""
    name, path = indexing_model()
    with transaction.atomic():
        state = IndexState.objects.select_for_update().get_or_create(pk=1)[0]
        if state.active_model == name:
            return False
        if Chunk.objects.exclude(embeddings__model=name).exists():
            return False
        old = state.active_model
        state.active_model, state.active_dimension = name, embedding.dimension(path)
        state.target_model = state.target_path = ""
        state.save()
        if old:
            ChunkEmbedding.objects.filter(model=old).delete()
    return True


def model_change(*, path: str) -> None:
    """Start embedding towards a new model; the active model keeps serving until the new set is complete."""
    resolved = str(Path(path).resolve())
    if not Path(resolved).is_dir():
        raise InvalidInput(f"--model {path}: not a directory with a sentence-transformers/transformers model")
    state = IndexState.current()
    if resolved == state.active_model:
        return
    state.target_model = state.target_path = resolved
    state.save()


def index_missing() -> list[int]:
    """Chunk every note, report and knowledge document that has no chunks yet."""
    chunk_ids: list[int] = []
    for source_type, model, loader in (
        ("note", ClinicalNote, _note_sources),
        ("report", DiagnosticReport, _report_sources),
    ):
        done = set(Chunk.objects.filter(source_type=source_type).values_list("source_id", flat=True).distinct())
        missing = [pk for pk in model.objects.values_list("pk", flat=True) if str(pk) not in done]
        for start in range(0, len(missing), 500):
            with transaction.atomic():
                chunk_ids += sources_chunk(sources=loader(missing[start : start + 500]))
    done = set(Chunk.objects.filter(source_type="knowledge").values_list("source_id", flat=True).distinct())
    missing = [pk for pk, doc_id in KnowledgeDocument.objects.values_list("pk", "doc_id") if doc_id not in done]
    for start in range(0, len(missing), 500):
        with transaction.atomic():
            chunk_ids += sources_chunk(sources=_knowledge_sources(missing[start : start + 500]))
    return chunk_ids


def index_requeue(*, actor: Actor) -> tuple[int, int]:
    """Chunk what has no chunks yet and queue every chunk still missing a vector. Returns (new chunks, queued)."""
    new = index_missing()
    name, _ = indexing_model()
    with transaction.atomic():
        pending = pending_chunk_ids(model=name)
        tasks = chunks_enqueue(chunk_ids=pending)
        audit(
            actor=actor,
            action=Action.INDEX_REQUEUE,
            target=name,
            detail={"new_chunks": len(new), "queued_chunks": len(pending), "tasks": tasks},
        )
    return len(new), len(pending)


def search_audited(*, actor: Actor, **params: Any) -> list[SearchHit]:
    """Search what the actor may read (one chart they may open, or across the charts they may see) and leave
    the audit row (query, filters, the patients the results show)."""
    patient_id = params.get("patient_id")
    if patient_id is not None:
        require_patient(actor=actor, patient_id=patient_id)
    elif params.get("corpus", "notes") == "notes":
        params["patient_ids"] = readable_patient_ids(actor=actor)
    hits = search_chunks(**params)
    patients = sorted({h.patient_id for h in hits if h.patient_id is not None})
    filters = {k: (str(v) if v is not None and not isinstance(v, bool | int | list) else v) for k, v in params.items()}
    filters.pop("patient_ids", None)
    query = filters.pop("query", "")
    audit(
        actor=actor,
        action=Action.SEARCH,
        patient=patient_id,
        patients=patients,
        target=str(query)[:300],
        detail={"query": query, "filters": filters, "results": len(hits)},
    )
    return hits
