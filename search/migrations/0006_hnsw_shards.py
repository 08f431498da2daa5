from django.db import migrations

SHARDS = 4  # search.selectors.HNSW_SHARDS: the queries repeat each index's predicate word for word
_SHARD = (
    "CREATE INDEX IF NOT EXISTS embedding_hnsw_384_s{k} ON search_chunkembedding "
    "USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 32, ef_construction = 200) "
    "WHERE dimension = 384 AND chunk_id % 4 = {k}"
)
_WHOLE = (
    "CREATE INDEX IF NOT EXISTS embedding_hnsw_384 ON search_chunkembedding "
    "USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 32, ef_construction = 200) WHERE dimension = 384"
)


class Migration(migrations.Migration):
    """The HNSW graph split in four by chunk id (chunk_id % 4), searched side by side and merged.

    One graph over a million chunks of real-looking MiniLM embeddings (tests/perf/bench_search.py) reached recall@10
    0.927-0.942 against exact search at ef_search 800 and 0.951-0.955 at 1,000, pgvector's maximum (two samples of
    150 queries on a 2-core AMD EPYC): queries with no chunk near them settle in a wrong region of the graph, and
    no ef_search can send them further. Four graphs of 250,000, each searched at ef_search 400, found 0.973-0.974
    of the true ten; two at a time on two connections the search took p50 13.6 / p95 20.7 ms against 13.3 / 22.9 for
    one graph at 1,000. Inserts cost less (each goes into a graph a quarter of the size); building all four from
    scratch costs more: about 900 s for a million rows there, where loading the million with one graph (COPY, full
    text index and graph) took 823 s in all.
    """

    dependencies = [("search", "0005_hnsw_denser_graph")]

    operations = [
        migrations.RunSQL(
            [_SHARD.format(k=k) for k in range(SHARDS)] + ["DROP INDEX IF EXISTS embedding_hnsw_384"],
            [_WHOLE] + [f"DROP INDEX IF EXISTS embedding_hnsw_384_s{k}" for k in range(SHARDS)],
        )
    ]
