"""The pools beside a search (embedding the query, searching HNSW shards) work in a process forked after the parent
used them (a forked worker inherits the parent's pools but none of their threads)."""

from __future__ import annotations

import multiprocessing

from search.retrieval import threads


def _answer_in_child(queue) -> None:
    queue.put(threads.pool("query-embedding", 2).submit(sum, [1, 2, 3]).result(timeout=10))


def test_a_forked_process_gets_a_pool_of_its_own():
    assert threads.pool("query-embedding", 2).submit(sum, [1, 2]).result(timeout=10) == 3  # the parent's threads exist now
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    child = fork.Process(target=_answer_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert queue.get(timeout=1) == 6
