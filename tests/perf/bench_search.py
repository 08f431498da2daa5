"""Search benchmarks, printed against baselines measured in the same run.

1. Retrieval quality on MedQuAD + LiveQA dev (graded judgments): nDCG@10 and recall@100 of keyword, vector and
   hybrid search through search_chunks, against a plain BM25 (Okapi, k1=1.5, b=0.75) over whole documents.
   KNOWLEDGE_DOCS=all embeds the whole corpus (17,908 passages: long on a CPU); the default indexes the judged
   passages plus 1,500 random others. BENCH_DATA_DIR reuses a database where the corpus is already indexed.
2. Latency of hybrid search within one patient (5,000 chunks, exact) and globally (GLOBAL_CHUNKS, default
   100,000, HNSW) with synthetic vectors, and recall@10 of HNSW against exact search.
3. Embedding throughput of search.embedding.encode against plain SentenceTransformer.encode, same texts, on the GPU
   when there is one (EMBED_PASSAGES, default 512). --embedding-only runs it alone, with no database: all it needs
   is Django's settings module and the model (EMBEDDING_MODEL, EMBEDDING_BACKEND as in the app).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _setup import SHARED, django_on_fresh_database, percentiles  # noqa: E402

KNOWLEDGE = SHARED / "knowledge"


def ndcg10(ranked: list[str], rel: dict[str, int]) -> float:
    gain = lambda g: (2 ** max(g - 1, 0)) - 1  # noqa: E731  grade 1 (incorrect) earns nothing
    dcg = sum(gain(rel.get(d, 0)) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((gain(g) for g in rel.values()), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall100(ranked: list[str], rel: dict[str, int]) -> float:
    relevant = {d for d, g in rel.items() if g > 1}
    return len(relevant & set(ranked[:100])) / len(relevant) if relevant else 0.0


def liveqa() -> tuple[list[dict[str, str]], dict[str, dict[str, int]]]:
    rel: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (KNOWLEDGE / "liveqa-dev/qrels.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        rel[q][d] = int(g)
    qs = [json.loads(x) for x in (KNOWLEDGE / "liveqa-dev/questions.jsonl").read_text().splitlines()]
    return [q for q in qs if any(g > 1 for g in rel[q["qid"]].values())], rel


def corpus_lines() -> list[str]:
    lines = (KNOWLEDGE / "medquad.jsonl").read_text().splitlines()
    if os.environ.get("KNOWLEDGE_DOCS", "") == "all":
        return lines
    judged = {line.split("\t")[1] for line in (KNOWLEDGE / "liveqa-dev/qrels.tsv").read_text().splitlines()[1:]}
    keep = [x for x in lines if json.loads(x)["id"] in judged]
    others = [x for x in lines if json.loads(x)["id"] not in judged]
    return keep + random.Random(1).sample(others, int(os.environ.get("KNOWLEDGE_DOCS", "1500")))


def bm25_ranker(docs: list[dict[str, str]]):
    tok = lambda s: re.findall(r"[a-z0-9]+", s.lower())  # noqa: E731
    bags = [Counter(tok(d["title"] + " " + d["text"])) for d in docs]
    lengths = [sum(b.values()) for b in bags]
    avg = sum(lengths) / len(lengths)
    df = Counter(t for b in bags for t in b)
    n = len(docs)

    def rank(question: str, k: int = 100) -> list[str]:
        terms = tok(question)
        scores = []
        for i, bag in enumerate(bags):
            s = 0.0
            for t in terms:
                tf = bag.get(t, 0)
                if tf:
                    idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                    s += idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * lengths[i] / avg))
            scores.append(s)
        order = sorted(range(n), key=lambda i: -scores[i])[:k]
        return [docs[i]["id"] for i in order]

    return rank


def bench_quality() -> None:
    from search.selectors import search_chunks

    if not os.environ.get("BENCH_DATA_DIR"):
        from search import services

        path = Path(os.environ["DATA_DIR"]) / "kb.jsonl"
        path.write_text("\n".join(corpus_lines()) + "\n")
        t = time.perf_counter()
        services.knowledge_import(path=path)
        name, _ = services.indexing_model()
        pending = services.pending_chunk_ids(model=name)
        for i in range(0, len(pending), 256):
            services.chunks_embed(chunk_ids=pending[i : i + 256])
        print(f"indexed {len(pending)} chunks in {time.perf_counter() - t:.0f} s")
    from search.models import KnowledgeDocument

    docs = list(KnowledgeDocument.objects.values("doc_id", "title", "text"))
    docs = [{"id": d["doc_id"], "title": d["title"], "text": d["text"]} for d in docs]
    qs, rel = liveqa()
    bm25 = bm25_ranker(docs)
    rows = {"bm25 baseline": [bm25(q["question"]) for q in qs]}
    for mode in ("keyword", "vector", "hybrid"):
        rows[mode] = [
            [h.source_id for h in search_chunks(query=q["question"], corpus="knowledge", mode=mode, limit=100)] for q in qs
        ]
    print(f"LiveQA dev, {len(qs)} questions over {len(docs)} passages")
    for name, ranked in rows.items():
        nd = sum(ndcg10(r, rel[q["qid"]]) for r, q in zip(ranked, qs, strict=True)) / len(qs)
        rc = sum(recall100(r, rel[q["qid"]]) for r, q in zip(ranked, qs, strict=True)) / len(qs)
        print(f"  {name:14s} nDCG@10 {nd:.3f}  recall@100 {rc:.3f}")


def main() -> None:
    if "--embedding-only" in sys.argv:
        from django.conf import settings

        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        settings.configure(
            EMBEDDING_MODEL=os.environ.get("EMBEDDING_MODEL", ""), EMBEDDING_BACKEND=os.environ.get("EMBEDDING_BACKEND", "auto")
        )
        bench_embedding()
        return
    if os.environ.get("BENCH_DATA_DIR"):
        os.environ["DATA_DIR"] = os.environ["BENCH_DATA_DIR"]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carebase.settings_dev")
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
    else:
        django_on_fresh_database("search")
    if "--latency-only" in sys.argv:
        pass
    elif KNOWLEDGE.exists():
        bench_quality()
    else:
        print(f"skipped quality: {KNOWLEDGE} is absent")
    if "--quality-only" not in sys.argv:
        bench_latency()
    if "--quality-only" not in sys.argv and "--latency-only" not in sys.argv:
        bench_embedding()


_WORDS = (
    "pain chest fever cough dyspnea hypertension diabetes insulin metformin lisinopril asthma wheeze rash nausea "
    "vomiting abdominal headache dizziness syncope edema murmur tachycardia anemia creatinine potassium sodium "
    "pneumonia infiltrate fracture sprain knee shoulder back lumbar cervical neuropathy stroke seizure migraine "
    "depression anxiety insomnia fatigue weight loss appetite allergy penicillin statin aspirin warfarin bleeding"
).split()


class _Texts:
    """Chunk texts and queries for the latency runs.

    "real": 40-word windows of MTSamples transcriptions, queries are 2-4 consecutive content words of other windows
    (word frequencies as in clinical notes: most query words are rare, a few like "pain" are common).
    "vocabulary": 40 words drawn from 60 clinical words, queries 3 of them; nearly every chunk holds every query
    word, the worst case for keyword search (every chunk is a candidate and must be ranked).
    """

    def __init__(self, kind: str, rng: np.random.Generator):
        self.kind, self.rng = kind, rng
        if kind == "real":
            notes = (SHARED / "notes/mtsamples.jsonl").read_text().splitlines()
            self.words = [w for line in notes for w in json.loads(line).get("transcription", "").split()]

    def chunks(self, n: int) -> list[str]:
        if self.kind == "vocabulary":
            return [" ".join(words) for words in self.rng.choice(_WORDS, (n, 40))]
        starts = self.rng.integers(0, len(self.words) - 40, n)
        return [" ".join(self.words[s : s + 40]) for s in starts]

    def queries(self, n: int) -> list[str]:
        if self.kind == "vocabulary":
            return [" ".join(self.rng.choice(_WORDS, 3)) for _ in range(n)]
        from search.selectors import query_terms

        found: list[str] = []
        while len(found) < n:
            s = int(self.rng.integers(0, len(self.words) - 12))
            terms = query_terms(" ".join(self.words[s : s + 12]))[: int(self.rng.integers(2, 5))]
            if len(terms) >= 2:
                found.append(" ".join(terms))
        return found


class _Vectors:
    """Unit vectors for the synthetic chunks, and query vectors for the recall measurement.

    "isotropic": 200 random centres plus Gaussian noise in all 384 directions. Nothing like real embeddings, which
    vary along comparatively few directions: at 1,000,000 chunks the 5,000 members of a cluster are nearly
    equidistant from any query, the worst case for an approximate index.
    "spectrum": real embeddings of 4,096 MTSamples windows as centres, noise drawn along their principal directions
    with their variances (so the spread and shape match real MiniLM embeddings); queries are embeddings of the
    query texts.
    """

    def __init__(self, kind: str, rng: np.random.Generator, texts: _Texts, path: str):
        from search import embedding

        self.kind, self.rng, self.texts, self.path = kind, rng, texts, path
        if kind == "isotropic":
            self.centres = rng.normal(size=(200, 384)).astype(np.float32)
        else:
            real = embedding.encode(texts.chunks(4096), path=path)
            centred = real - real.mean(axis=0)
            _, singular, self.axes = np.linalg.svd(centred, full_matrices=False)
            self.spread = singular / math.sqrt(len(real) - 1)
            self.centres = real

    def sample(self, n: int) -> np.ndarray:
        centres = self.centres[self.rng.integers(0, len(self.centres), n)]
        if self.kind == "isotropic":
            noise = 0.6 * self.rng.normal(size=(n, 384))
        else:
            noise = 0.5 * (self.rng.normal(size=(n, len(self.spread))) * self.spread) @ self.axes
        vectors = centres + noise
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    def queries(self, chart_vectors: np.ndarray, n: int) -> np.ndarray:
        if self.kind == "isotropic":
            noise = self.rng.normal(size=(n, 384))
            near = (
                chart_vectors[self.rng.integers(0, len(chart_vectors), n)] + 0.3 * noise / np.linalg.norm(noise, axis=1)[:, None]
            )
            return (near / np.linalg.norm(near, axis=1, keepdims=True)).astype(np.float32)
        from search import embedding

        return embedding.encode(self.texts.queries(n), path=self.path)


def _load(patients: list[int], per_patient: int, model: str, texts: _Texts, vectors_of: _Vectors) -> None:
    """Chunks with these texts and vectors, by COPY, for the patients given (per_patient each).

    Large loads drop the GIN and HNSW indexes first and build them afterwards (as a bulk load would).
    """
    from django.db import connection
    from pgvector.psycopg import register_vector

    from search.services import SEARCH_VECTOR_SQL

    rebuild = len(patients) * per_patient >= 50_000
    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE indexname = 'chunk_search_vector_gin' OR indexname LIKE 'embedding_hnsw_384%%'"
        )
        indexes = cursor.fetchall() if rebuild else []
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_stage (source_id text, patient_id int, text text, vec vector(384))")
        for group in range(0, len(patients), 10):
            cursor.execute("TRUNCATE bench_stage")
            with cursor.cursor.copy("COPY bench_stage FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int4", "text", "vector"])
                for patient_id in patients[group : group + 10]:
                    vectors = vectors_of.sample(per_patient)
                    for i, (text, vector) in enumerate(zip(texts.chunks(per_patient), vectors, strict=True)):
                        copy.write_row([f"syn-{patient_id}-{i}", patient_id, text, vector])
            cursor.execute(
                "INSERT INTO search_chunk (source_type, source_id, patient_id, ordinal, title, section, note_type, text, "
                "negated, uncertain, other_subject, created_at, search_vector) "
                f"SELECT 'note', source_id, patient_id, 0, title, section, '', text, false, false, false, now(), "
                f"{SEARCH_VECTOR_SQL} FROM (SELECT *, ''::text AS title, 'HPI'::text AS section FROM bench_stage) s"
            )
            cursor.execute(
                "INSERT INTO search_chunkembedding (chunk_id, patient_id, model, dimension, embedding, created_at) "
                "SELECT c.id, c.patient_id, %s, 384, s.vec, now() FROM bench_stage s "
                "JOIN search_chunk c ON c.source_type = 'note' AND c.source_id = s.source_id",
                [model],
            )
        cursor.execute("SET maintenance_work_mem = '6GB'")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("VACUUM ANALYZE search_chunk" if connection.get_autocommit() else "ANALYZE search_chunk")
        cursor.execute("ANALYZE search_chunkembedding")
        if connection.get_autocommit():
            # The load's dirty pages written now, not by the checkpointer while the searches below are timed (a
            # chart's worst-case p95 measured right after loading: 19.8-20.1 ms; on the same rows a minute later: 16.1).
            cursor.execute("CHECKPOINT")


RUNS = 200  # timed searches per figure


def _timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return percentiles(samples)


def _clear_synthetic() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM search_chunkembedding WHERE chunk_id IN (SELECT id FROM search_chunk WHERE source_id LIKE 'syn-%%')"
        )
        cursor.execute("DELETE FROM search_chunk WHERE source_id LIKE 'syn-%%'")
        cursor.execute("DELETE FROM clinic_patient WHERE fhir_id LIKE 'bench-%%'")


WORKLOADS = {"realistic": ("real", "spectrum"), "worst-case": ("vocabulary", "isotropic")}


def bench_latency() -> None:
    """Both workloads at the default sizes; BENCH_WORKLOAD picks one, GLOBAL_CHUNKS the global size (for 1,000,000:
    with BENCH_DATA_DIR the loaded chunks are kept, so a second run measures without loading again)."""
    names = [os.environ["BENCH_WORKLOAD"]] if os.environ.get("BENCH_WORKLOAD") else list(WORKLOADS)
    for name in names:
        if WORKLOADS[name][0] == "real" and not (SHARED / "notes/mtsamples.jsonl").exists():
            print(f"skipped the {name} latency run: MTSamples is absent")
            continue
        bench_latency_of(name)


def bench_latency_of(workload: str) -> None:
    from clinic.models import Patient
    from search import embedding
    from search.models import Chunk, ChunkEmbedding
    from search.selectors import _Filters, nearest_chunks, search_chunks, serving_model

    rng = np.random.default_rng(7)
    text_kind, vector_kind = WORKLOADS[workload]
    model, path = serving_model()
    texts = _Texts(text_kind, rng)
    vectors_of = _Vectors(vector_kind, rng, texts, path)
    total = int(os.environ.get("GLOBAL_CHUNKS", "100000"))
    chart = Patient.objects.filter(fhir_id=f"bench-chart-{workload}").first()
    loaded = chart is not None and Patient.objects.filter(fhir_id__startswith=f"bench-{workload}-").count() == 100
    if not loaded:
        _clear_synthetic()
        t = time.perf_counter()
        chart = Patient.objects.create(fhir_id=f"bench-chart-{workload}", name="Bench Chart")
        _load([chart.pk], 5000, model, texts, vectors_of)
        patients = Patient.objects.bulk_create([Patient(fhir_id=f"bench-{workload}-{i}", name=f"P{i}") for i in range(100)])
        _load([p.pk for p in patients], total // 100, model, texts, vectors_of)
        print(f"  loaded {total:,} synthetic chunks, GIN and HNSW built, in {time.perf_counter() - t:.0f} s")
    print(f"{workload} workload ({text_kind} text, {vector_kind} vectors), e.g. queries {texts.queries(3)}")
    size = Chunk.objects.filter(source_id__startswith="syn-").count()
    # A server that has just started (or built its indexes) reads their pages from disk: the figures below are of a
    # server that has answered some queries already, as one in use has.
    everyone = _Filters(("note", "report"), None, None, None, None)
    for query in texts.queries(30):
        search_chunks(query=query, patient_id=chart.pk, mode="hybrid")
        search_chunks(query=query, mode="hybrid")
    for q in vectors_of.queries(np.zeros((1, 384), dtype=np.float32) + 0.05, 100):
        nearest_chunks(q, model, everyone, 10, exact=False)
    # Each measurement its own queries, RUNS of them: the p95 of 40 was the second-slowest, and moved by 5 ms between
    # two runs of the same code.
    it = iter(texts.queries(7 * RUNS))
    p50, p95 = _timed(lambda: search_chunks(query=next(it), patient_id=chart.pk, mode="hybrid"), RUNS)
    p50e, p95e = _timed(lambda: embedding.encode([next(it)], path=path), RUNS)
    rows = list(ChunkEmbedding.objects.filter(chunk__patient=chart, model=model).values_list("chunk_id", "embedding"))
    matrix = np.array([r[1] for r in rows], dtype=np.float32)
    filters = _Filters(("note", "report"), chart.pk, None, None, None)
    found = 0
    for q in vectors_of.queries(matrix, 20):
        exact = {rows[i][0] for i in np.argsort(-(matrix @ q))[:10]}
        found += len(exact & {cid for cid, _, _ in nearest_chunks(q, model, filters, 10)})
    print(
        f"  within one patient ({len(rows):,} chunks among {size:,}): hybrid p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(query embedding alone p50 {p50e:.1f} ms, p95 {p95e:.1f} ms); vector recall@10 against numpy "
        f"brute force {found / 200:.3f}"
    )
    _chart_search_with_access(chart, it)

    recalls = []
    for q in vectors_of.queries(matrix, 100):  # 30 gave 0.867 here, 1.000 in an earlier run of the same workload
        approx = {cid for cid, _, _ in nearest_chunks(q, model, everyone, 10, exact=False)}
        exact = {cid for cid, _, _ in nearest_chunks(q, model, everyone, 10, exact=True)}
        recalls.append(len(approx & exact) / 10)
    qv = iter(vectors_of.queries(matrix, RUNS + 5))
    p50v, p95v = _timed(lambda: nearest_chunks(next(qv), model, everyone, 10, exact=False), RUNS)
    p50x, p95x = _timed(lambda: nearest_chunks(next(qv), model, everyone, 10, exact=True), 5)
    p50k, p95k = _timed(lambda: search_chunks(query=next(it), mode="keyword"), RUNS)
    p50h, p95h = _timed(lambda: search_chunks(query=next(it), mode="hybrid"), RUNS)
    print(
        f"  global ({size:,} chunks): HNSW p50 {p50v:.1f} ms, p95 {p95v:.1f} ms, recall@10 {sum(recalls) / len(recalls):.3f}"
        f" vs exact scan p50 {p50x:.1f} ms, p95 {p95x:.1f} ms; keyword p50 {p50k:.1f} ms, p95 {p95k:.1f} ms; "
        f"hybrid (with query embedding) p50 {p50h:.1f} ms, p95 {p95h:.1f} ms"
    )


def _chart_search_with_access(chart: Any, queries: Any) -> None:
    """The same chart search three ways, interleaved so all see the same machine: bare; audited as a superuser (the
    audit row, which searches wrote before the trust rules too, and no care-team lookup); and as a clinician on the
    care team (the access decision and the audit row). The last two differ by what the trust rules cost a clinician."""
    from django.contrib.auth import get_user_model

    from clinic.access import Actor
    from clinic.models import CareTeamMember
    from search.services import search_audited
    from tests.access import user_with_roles

    clinician = user_with_roles(f"bench-{chart.pk}", "clinician")
    CareTeamMember.objects.create(user=clinician, patient=chart)
    root = get_user_model().objects.create_user(f"bench-root-{chart.pk}", is_superuser=True)
    bare: list[float] = []
    audited: list[float] = []
    checked: list[float] = []
    for _ in range(RUNS):
        for samples, run, user in (
            (bare, _bare_search, root),
            (audited, _checked_search, root),
            (checked, _checked_search, clinician),
        ):
            t = time.perf_counter()
            run(chart, next(queries), Actor(user=user, channel="api"), search_audited)
            samples.append((time.perf_counter() - t) * 1000)
    (b50, b95), (a50, a95), (c50, c95) = percentiles(bare), percentiles(audited), percentiles(checked)
    print(
        f"  within one patient, as a clinician on the care team (access check + audit row): p50 {c50:.1f} ms, "
        f"p95 {c95:.1f} ms; audited as a superuser (audit row, no care-team lookup): p50 {a50:.1f} ms, p95 {a95:.1f} ms "
        f"(the access check: p95 {100 * (c95 / a95 - 1):+.0f}%); bare search: p50 {b50:.1f} ms, p95 {b95:.1f} ms"
    )


def _bare_search(chart: Any, query: str, actor: Any, audited: Any) -> None:
    from search.selectors import search_chunks

    search_chunks(query=query, patient_id=chart.pk, mode="hybrid", limit=10)


def _checked_search(chart: Any, query: str, actor: Any, audited: Any) -> None:
    audited(actor=actor, query=query, patient_id=chart.pk, mode="hybrid", limit=10)


def bench_embedding() -> None:
    """search.embedding.encode against plain SentenceTransformer.encode (on the same device) on the same MedQuAD
    passages, interleaved rounds (EMBED_ROUNDS, default 3) so that both sides see the same machine load; the median
    round's speed-up counts."""
    import torch
    from sentence_transformers import SentenceTransformer

    from search import embedding
    from search.chunking import chunk_text

    wanted = int(os.environ.get("EMBED_PASSAGES", "512"))
    texts: list[str] = []
    with (KNOWLEDGE / "medquad.jsonl").open() as lines:
        for line in lines:
            doc = json.loads(line)
            texts += [f"{doc['title']}. {c.text}" for c in chunk_text(doc["text"])]
            if len(texts) >= wanted:
                break
    texts = texts[:wanted]
    _, path = embedding.configured_model()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    plain = SentenceTransformer(path, device=device)
    plain.encode(texts[:64])
    embedding.encode(texts[:64], path=path)
    rounds = []
    for _ in range(int(os.environ.get("EMBED_ROUNDS", "3"))):
        t = time.perf_counter()
        reference = plain.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        base = len(texts) / (time.perf_counter() - t)
        t = time.perf_counter()
        ours = embedding.encode(texts, path=path)
        rate = len(texts) / (time.perf_counter() - t)
        rounds.append((rate / base, rate, base))
        print(f"  round: {rate:.1f}/s vs plain {base:.1f}/s ({rate / base:.2f}x)")
    speedup, rate, base = sorted(rounds)[len(rounds) // 2]
    cosine = (reference * ours).sum(axis=1)
    where = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"embedding {len(texts)} passages on {where} ({embedding.backend(path)} backend): {rate:.1f}/s vs plain "
        f"SentenceTransformer.encode {base:.1f}/s ({speedup:.2f}x, median of {len(rounds)} interleaved rounds), "
        f"cosine to reference min {cosine.min():.4f}, mean {cosine.mean():.4f}"
    )


if __name__ == "__main__":
    main()
