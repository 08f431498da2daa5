from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

from clinic.hooks import records_changed
from clinic.models import IngestionRun
from search import embedding, services
from search.models import Chunk, ChunkEmbedding, IndexState, KnowledgeDocument
from search.selectors import _Filters, search_chunks, vector_ranks
from tests.search.factories import index_all, note, patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def charts(settings):
    settings.JOBS_EAGER = True
    ada, bob = patient("Ada Lovelace"), patient("Bob Marley")
    notes = {
        "pain": note(ada, "HPI: Patient reports crushing chest pain radiating to the left arm.", title="ED note"),
        "denied": note(bob, "HPI: Patient denies chest pain. Ankle sprain after a fall.", title="Ortho note"),
        "htn": note(ada, "Assessment: Hypertension, poorly controlled. Plan: start lisinopril.", title="Clinic"),
        "family": note(bob, "Family history: Mother had breast cancer at 50.", title="Intake"),
        "ro": note(ada, "Impression: Rule out pneumonia; chest x-ray ordered.", title="Urgent care"),
        "late": note(ada, "Plan: follow up on diabetes and HbA1c.", date=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)),
    }
    index_all()
    return ada, bob, notes


def ids(hits):
    return [h.source_id for h in hits]


def test_it_finds_the_note_that_says_it_and_not_the_one_that_denies_it(charts):
    _, _, notes = charts
    hits = search_chunks(query="chest pain", mode="keyword", exclude_negated=True)
    assert str(notes["pain"].pk) in ids(hits)
    assert str(notes["denied"].pk) not in ids(hits)
    tagged = {h.source_id: h for h in search_chunks(query="chest pain", mode="keyword")}
    assert tagged[str(notes["denied"].pk)].negated and not tagged[str(notes["pain"].pk)].negated


def test_it_expands_clinical_abbreviations(charts):
    _, _, notes = charts
    assert ids(search_chunks(query="HTN", mode="keyword"))[:1] == [str(notes["htn"].pk)]
    assert ids(search_chunks(query="heart attack", mode="keyword")) == []


def test_it_tags_family_history_and_uncertainty(charts):
    _, _, notes = charts
    assert ids(search_chunks(query="breast cancer", mode="keyword", exclude_other_subject=True)) == []
    hit = search_chunks(query="pneumonia", mode="keyword")[0]
    assert hit.source_id == str(notes["ro"].pk) and hit.uncertain


def test_it_filters_by_patient_date_and_kind(charts):
    ada, bob, notes = charts
    assert {h.patient_id for h in search_chunks(query="chest pain", patient_id=bob.pk)} == {bob.pk}
    late = search_chunks(query="diabetes", date_from=dt.date(2025, 1, 1), mode="keyword")
    assert ids(late) == [str(notes["late"].pk)]
    assert search_chunks(query="diabetes", date_to=dt.date(2024, 12, 31), mode="keyword") == []
    assert search_chunks(query="chest pain", kinds=["report"]) == []


def test_it_ranks_semantically_in_vector_mode(charts):
    _, _, notes = charts
    assert ids(search_chunks(query="high blood pressure medication", mode="vector", limit=1)) == [str(notes["htn"].pk)]


@pytest.mark.parametrize("narrowed", [False, True], ids=["whole chart", "narrowed by date"])
def test_within_patient_vector_search_equals_brute_force(charts, narrowed):
    ada, _, _ = charts
    name, path = services.indexing_model()
    since = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
    embeddings = ChunkEmbedding.objects.filter(chunk__patient=ada, model=name)
    if narrowed:  # the other plan: chunk rows joined and filtered before ranking
        embeddings = embeddings.filter(chunk__date__gte=since)
    rows = list(embeddings.values_list("chunk_id", "embedding"))
    assert len(rows) >= 3
    matrix = np.array([r[1] for r in rows])
    filters = _Filters(("note", "report"), ada.pk, since if narrowed else None, None, None)
    assert filters.whole_chart is not narrowed
    for query in ("chest pain", "blood pressure", "lung infection", "sugar control", "arm"):
        q = embedding.encode([query], path=path)[0]
        expected = [rows[i][0] for i in np.argsort(-(matrix @ q), kind="stable")]
        got = [chunk_id for chunk_id, _, _ in vector_ranks(query, filters, 100)]
        assert got == expected


def test_it_indexes_records_when_clinic_says_they_changed(settings, django_capture_on_commit_callbacks):
    settings.JOBS_EAGER = True
    chart = patient()
    with django_capture_on_commit_callbacks(execute=True):
        written = note(chart, "Assessment: Atrial fibrillation with rapid ventricular response.")
        records_changed("clinic.ClinicalNote", [written.pk])
    assert Chunk.objects.filter(source_type="note", source_id=str(written.pk)).exists()
    assert ids(search_chunks(query="afib", mode="keyword")) == [str(written.pk)]
    assert ChunkEmbedding.objects.filter(chunk__source_id=str(written.pk)).count() == 1


def test_it_reembeds_after_a_model_change_while_the_old_model_serves(charts, tmp_path: Path):
    state = IndexState.current()
    old = state.active_model
    assert old == embedding.DEFAULT_MODEL_NAME
    copy = tmp_path / "minilm-copy"
    shutil.copytree(embedding.model_path(old), copy)
    services.model_change(path=str(copy))
    assert IndexState.current().active_model == old  # still serving
    services.chunks_embed(chunk_ids=list(Chunk.objects.values_list("pk", flat=True)[:2]))
    assert IndexState.current().active_model == old
    assert search_chunks(query="chest pain", mode="vector")
    services.chunks_embed(chunk_ids=services.pending_chunk_ids(model=str(copy.resolve())))
    state = IndexState.current()
    assert state.active_model == str(copy.resolve()) and not state.target_model
    assert set(ChunkEmbedding.objects.values_list("model", flat=True)) == {str(copy.resolve())}


def test_it_imports_knowledge_documents_all_or_nothing(settings, tmp_path: Path):
    settings.JOBS_EAGER = True
    good = tmp_path / "kb.jsonl"
    good.write_text(
        '{"id": "kb-1", "title": "Asthma", "text": "Summary: Asthma narrows the airways. Treatment: inhalers."}\n'
        '{"id": "kb-2", "title": "Gout", "text": "Summary: Gout is uric acid crystals in a joint."}\n'
    )
    assert services.knowledge_import(path=good) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "kb-3", "text": "fine"}\n{"id": "kb-4"}\nnot json\n')
    with pytest.raises(services.InvalidInput, match="line 2"):
        services.knowledge_import(path=bad)
    assert set(KnowledgeDocument.objects.values_list("doc_id", flat=True)) == {"kb-1", "kb-2"}
    good_run, bad_run = IngestionRun.objects.filter(kind="knowledge").order_by("started_at", "id")
    assert (good_run.status, good_run.counts) == ("succeeded", {"KnowledgeDocument": 2})
    assert bad_run.status == "failed" and [(e["entry"], e["field"]) for e in bad_run.errors] == [
        ("line 2", "text"),
        ("line 3", ""),
    ]
    index_all()
    hits = search_chunks(query="wheezing and inhalers", corpus="knowledge")
    assert ids(hits)[0] == "kb-1" and len(set(ids(hits))) == len(hits)


def test_a_large_index_takes_common_word_frequencies_from_the_planner_statistics(charts, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from search.retrieval import keyword

    exact, n = keyword.document_frequencies("chest pain hypertension", ["note", "report"])
    assert exact == {"chest": 3, "pain": 2, "hypertens": 1} and n == 6
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE search_chunk")  # a table this small is sampled whole: every lexeme is "common"
    monkeypatch.setattr(keyword, "LARGE_INDEX", 1)
    with CaptureQueriesContext(connection) as queries:
        estimated, n = keyword.document_frequencies("chest pain hypertension zebra", ["note", "report"])
    assert (estimated, n) == (exact, 6)
    counted = [q["sql"] for q in queries if "count(*)" in q["sql"]]
    assert len(counted) == 1 and "zebra" in counted[0] and "chest" not in counted[0]  # only the unlisted lexeme


def test_population_queries_of_only_common_words_rank_within_the_nearest_chunks(charts, monkeypatch):
    from search.retrieval import hybrid, keyword

    _, _, notes = charts
    monkeypatch.setattr(keyword, "KEYWORD_CANDIDATES", 1)  # every word is now "too common" across the population
    everyone = _Filters(("note", "report"), None, None, None, None)
    assert keyword.keyword_plan("chest pain", everyone).too_broad
    assert str(notes["pain"].pk) in ids(search_chunks(query="chest pain", mode="keyword", exclude_negated=True))
    monkeypatch.setattr(hybrid, "VECTOR_POOL", 1)
    nearest = vector_ranks("chest pain", everyone, 1)[0][2]
    assert nearest == str(notes["pain"].pk)
    monkeypatch.setattr(keyword, "KEYWORD_CANDIDATES", 100)
    assert ids(search_chunks(query="chest pain", mode="keyword", limit=1)) != [nearest]  # the best by keyword
    monkeypatch.setattr(keyword, "KEYWORD_CANDIDATES", 1)
    assert ids(search_chunks(query="chest pain", mode="keyword", limit=1)) == [nearest]  # the best of the nearest
    ada = charts[0]  # within one chart every matching chunk is ranked
    assert not keyword.keyword_plan("chest pain", _Filters(("note", "report"), ada.pk, None, None, None)).too_broad
    assert len(search_chunks(query="chest pain", mode="keyword", patient_id=ada.pk)) == 2


def test_a_deep_population_search_stays_within_the_hnsw_settings_range(charts):
    # limit 100, excluding negated, one result per knowledge document: 1,200 vector candidates, over ef_search's 1,000
    assert search_chunks(query="chest pain", corpus="knowledge", limit=100, exclude_negated=True) == []
    assert search_chunks(query="chest pain", limit=100, exclude_negated=True, mode="vector")


def _population_queries(name: str, path: str) -> list[tuple[str, np.ndarray]]:
    texts = ["chest pain", "high blood pressure", "breast cancer in the family", "ankle sprain", "pneumonia", "diabetes"]
    return list(zip(texts, embedding.encode(texts, path=path), strict=True))


def test_population_vector_search_through_the_hnsw_shards_equals_exact_search(charts):
    from search.selectors import HNSW_SHARDS, nearest_chunks

    name, path = services.indexing_model()
    assert len({chunk_id % HNSW_SHARDS for chunk_id in Chunk.objects.values_list("id", flat=True)}) > 1  # several shards
    everyone = _Filters(("note", "report"), None, None, None, None)
    for _, vector in _population_queries(name, path):
        approximate = nearest_chunks(vector, name, everyone, 5, exact=False)
        exact = nearest_chunks(vector, name, everyone, 5, exact=True)
        assert [c for c, _, _ in approximate] == [c for c, _, _ in exact]
        assert [s for _, s, _ in approximate] == pytest.approx([s for _, s, _ in exact], abs=1e-5)


def test_each_hnsw_shard_is_searched_through_its_own_index(charts):
    from django.db import connection, transaction

    from search.retrieval.vector import HNSW_SHARDS, _shard_sql

    name, path = services.indexing_model()
    literal = "[" + ",".join(f"{x:.7g}" for x in _population_queries(name, path)[0][1]) + "]"
    where, params = _Filters(("note",), None, None, None, None).sql()
    for shard in range(HNSW_SHARDS):
        sql, arguments = _shard_sql([shard], where, [literal, name, *params], 10)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows: only a missed index would scan
            cursor.execute(f"EXPLAIN {sql}", arguments)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert f"embedding_hnsw_384_s{shard}" in plan, plan


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_shards_are_searched_on_two_connections_with_the_same_result(settings, monkeypatch):
    from django.db import transaction

    from search.retrieval import threads, vector

    settings.JOBS_EAGER = True
    chart = patient("Cy Twombly")
    for i, text in enumerate(["crushing chest pain", "ankle sprain after a fall", "blood pressure 180/100", "cough, fever"]):
        note(chart, f"HPI: {text}. Visit {i}.")
    index_all()
    name, path = services.indexing_model()
    everyone = _Filters(("note", "report"), None, None, None, None)
    pooled: list[int] = []
    original = threads.on_own_connection

    def on_own_connection(fn, *args):
        pooled.append(1)
        return original(fn, *args)

    monkeypatch.setattr(threads, "on_own_connection", on_own_connection)
    monkeypatch.setattr(vector.os, "cpu_count", lambda: 2)  # the side-by-side path even on a one-core machine
    queries = _population_queries(name, path)
    for _, query_vector in queries:
        side_by_side = vector.nearest_chunks(query_vector, name, everyone, 3, exact=False)
        with transaction.atomic():  # inside a transaction: all shards on this connection
            one_connection = vector.nearest_chunks(query_vector, name, everyone, 3, exact=False)
        assert side_by_side == one_connection and len(side_by_side) == 3
    assert len(pooled) == len(queries)  # every search outside the transaction used the pool's connection


def test_each_shard_searches_wider_as_the_index_grows(charts):
    from django.db import connection, transaction

    from search.retrieval import vector

    def ef_search(rows: int, limit: int) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE pg_class SET reltuples = %s WHERE oid = 'search_chunkembedding'::regclass", [rows])
            cursor.execute(vector._shard_settings(limit))
            cursor.execute("SHOW hnsw.ef_search")
            value = int(cursor.fetchone()[0])
            transaction.set_rollback(True)
        return value

    assert ef_search(10_000, 10) == vector.HNSW_EF_SEARCH_MIN
    assert ef_search(500_000, 10) == vector.HNSW_EF_SEARCH // 2
    assert ef_search(3_000_000, 10) == vector.HNSW_EF_SEARCH
    assert ef_search(10_000, 700) == 700 and ef_search(10_000, 1_500) == 1000
