"""Retrieval over the search index, by job: terms (query words and synonyms), filters, keyword (idf-weighted
full text), vector (exact and HNSW shards), hybrid (search_chunks, reciprocal rank fusion), snippets (hits as
shown, with negation context), status (the index for stewards), threads (this process's pools).

Other apps read through search.selectors, which re-exports what they use.
"""
