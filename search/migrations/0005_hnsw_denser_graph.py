from django.db import migrations

_CREATE = (
    "CREATE INDEX embedding_hnsw_384 ON search_chunkembedding "
    "USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = {m}, ef_construction = {ef}) WHERE dimension = 384"
)


class Migration(migrations.Migration):
    """A denser HNSW graph (m 32, ef_construction 200; pgvector's defaults are 16 and 64).

    At 1,000,000 chunks with the spread of real MiniLM embeddings (tests/perf/bench_search.py, 60 real-text
    queries), recall@10 against exact search with ef_search 800: default graph 0.82, m 24 / ef_construction 128
    0.91, this graph 0.985 (0.967 at ef_search 400). Building it took 647 s for 1,000,000 vectors on 2 cores
    (default: about 200 s); inserts cost more in proportion, still small beside computing the embeddings.
    """

    dependencies = [("search", "0004_embedding_patient")]

    operations = [
        migrations.RunSQL(
            ["DROP INDEX IF EXISTS embedding_hnsw_384", _CREATE.format(m=32, ef=200)],
            ["DROP INDEX IF EXISTS embedding_hnsw_384", _CREATE.format(m=16, ef=64)],
        )
    ]
