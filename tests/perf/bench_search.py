"""Search benchmarks, printed against baselines measured in the same run.

1. Retrieval quality on MedQuAD + LiveQA dev (graded judgments): nDCG@10 and recall@100 of keyword, vector and
   hybrid search through search_chunks, against a plain BM25 (Okapi, k1=1.5, b=0.75) over whole documents.
   KNOWLEDGE_DOCS=all embeds the whole corpus (17,908 passages: long on a CPU); the default indexes the judged
   passages plus 1,500 random others. BENCH_DATA_DIR reuses a database where the corpus is already indexed.
2. Latency of hybrid search within one patient (5,000 chunks, exact) and globally (GLOBAL_CHUNKS, default
   100,000, HNSW) with synthetic vectors, and recall@10 of HNSW against exact search.
3. Embedding throughput of search.embedding.encode against plain SentenceTransformer.encode, same texts.
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
    if os.environ.get("BENCH_DATA_DIR"):
        os.environ["DATA_DIR"] = os.environ["BENCH_DATA_DIR"]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carebase.settings")
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        import django

        django.setup()
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
        bench_embedding()


_WORDS = (
    "pain chest fever cough dyspnea hypertension diabetes insulin metformin lisinopril asthma wheeze rash nausea "
    "vomiting abdominal headache dizziness syncope edema murmur tachycardia anemia creatinine potassium sodium "
    "pneumonia infiltrate fracture sprain knee shoulder back lumbar cervical neuropathy stroke seizure migraine "
    "depression anxiety insomnia fatigue weight loss appetite allergy penicillin statin aspirin warfarin bleeding"
).split()


def _synthetic(patients: list[int | None], per_patient: int, model: str, rng: np.random.Generator) -> np.ndarray:
    """Chunks with clinical-word text and clustered unit vectors (real embeddings cluster by topic)."""
    from django.db import connection

    from search.models import Chunk, ChunkEmbedding
    from search.services import SEARCH_VECTOR_SQL

    centres = rng.normal(size=(200, 384)).astype(np.float32)
    all_vectors = []
    for patient_id in patients:
        vectors = centres[rng.integers(0, 200, per_patient)] + 0.6 * rng.normal(size=(per_patient, 384))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        chunks = Chunk.objects.bulk_create(
            [
                Chunk(
                    source_type="note",
                    source_id=f"syn-{patient_id}-{i}",
                    patient_id=patient_id,
                    text=" ".join(rng.choice(_WORDS, 40)),
                    section="HPI",
                )
                for i in range(per_patient)
            ],
            batch_size=2000,  # 15 columns: stay under 65,535 bound parameters
        )
        ChunkEmbedding.objects.bulk_create(
            [ChunkEmbedding(chunk=c, model=model, dimension=384, embedding=v) for c, v in zip(chunks, vectors, strict=True)],
            batch_size=2000,
        )
        all_vectors.append(vectors)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE search_chunk SET search_vector = {SEARCH_VECTOR_SQL} WHERE search_vector IS NULL")
        cursor.execute("ANALYZE search_chunk; ANALYZE search_chunkembedding")
    return np.concatenate(all_vectors)


def _timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return percentiles(samples)


def bench_latency() -> None:
    from clinic.models import Patient
    from search import embedding
    from search.selectors import _Filters, nearest_chunks, search_chunks, serving_model

    rng = np.random.default_rng(7)
    model, path = serving_model()
    embedding.encode(["warm up"], path=path)
    chart = Patient.objects.create(fhir_id="bench-chart", name="Bench Chart")
    vectors = _synthetic([chart.pk], 5000, model, rng)
    queries = [" ".join(rng.choice(_WORDS, 3)) for _ in range(40)]
    it = iter(queries * 10)
    p50, p95 = _timed(lambda: search_chunks(query=next(it), patient_id=chart.pk, mode="hybrid"), 40)
    p50e, p95e = _timed(lambda: embedding.encode([next(it)], path=path), 40)
    filters = _Filters(("note", "report"), chart.pk, None, None, None)
    exact_ok = 0
    for q in vectors[rng.integers(0, len(vectors), 20)] + 0.1:
        q = q / np.linalg.norm(q)
        got = [cid for cid, _, _ in nearest_chunks(q, model, filters, 10)]
        exact_ok += len(got) == 10
    print(
        f"within one patient (5,000 chunks): hybrid p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(query embedding alone p50 {p50e:.1f} ms, p95 {p95e:.1f} ms); vector part exact, recall 1.0 by construction"
    )

    total = int(os.environ.get("GLOBAL_CHUNKS", "100000"))
    t = time.perf_counter()
    patients = list(Patient.objects.bulk_create([Patient(fhir_id=f"bench-{i}", name=f"P{i}") for i in range(100)]))
    _synthetic([p.pk for p in patients], total // 100, model, rng)
    print(f"loaded {total:,} synthetic chunks with HNSW in {time.perf_counter() - t:.0f} s")
    everyone = _Filters(("note", "report"), None, None, None, None)
    recalls = []
    for q in rng.normal(size=(30, 384)).astype(np.float32):
        q = vectors[rng.integers(0, len(vectors))] + 0.3 * q / np.linalg.norm(q)
        approx = {cid for cid, _, _ in nearest_chunks(q, model, everyone, 10, exact=False)}
        exact = {cid for cid, _, _ in nearest_chunks(q, model, everyone, 10, exact=True)}
        recalls.append(len(approx & exact) / 10)
    qv = iter(rng.normal(size=(200, 384)).astype(np.float32))
    p50v, p95v = _timed(lambda: nearest_chunks(next(qv), model, everyone, 10, exact=False), 40)
    p50x, p95x = _timed(lambda: nearest_chunks(next(qv), model, everyone, 10, exact=True), 10)
    p50h, p95h = _timed(lambda: search_chunks(query=next(it), mode="hybrid"), 40)
    print(
        f"global ({total:,} chunks): HNSW p50 {p50v:.1f} ms, p95 {p95v:.1f} ms, recall@10 {sum(recalls) / len(recalls):.3f}"
        f" vs exact scan p50 {p50x:.1f} ms, p95 {p95x:.1f} ms; hybrid (with query embedding) p50 {p50h:.1f} ms, p95 {p95h:.1f} ms"
    )


def bench_embedding() -> None:
    """search.embedding.encode against plain SentenceTransformer.encode on the same 512 passages, interleaved rounds
    (EMBED_ROUNDS, default 3) so that both sides see the same machine load; the median round's speed-up counts."""
    from sentence_transformers import SentenceTransformer

    from search import embedding
    from search.chunking import chunk_text

    docs = [json.loads(x) for x in (KNOWLEDGE / "medquad.jsonl").read_text().splitlines()[:400]]
    texts = [f"{d['title']}. {c.text}" for d in docs for c in chunk_text(d["text"])][:512]
    _, path = embedding.configured_model()
    plain = SentenceTransformer(path, device="cpu")
    plain.encode(texts[:8])
    embedding.encode(texts[:8], path=path)
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
    print(
        f"embedding {len(texts)} passages ({embedding.backend(path)} backend): {rate:.1f}/s vs plain "
        f"SentenceTransformer.encode {base:.1f}/s ({speedup:.2f}x, median of {len(rounds)} interleaved rounds), "
        f"cosine to reference min {cosine.min():.4f}, mean {cosine.mean():.4f}"
    )


if __name__ == "__main__":
    main()
