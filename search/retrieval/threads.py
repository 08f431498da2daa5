"""Thread pools of this process (the query embedding, the second connection of a sharded HNSW search).

A pool's threads do not survive a fork: each process makes its own. A pool thread keeps its own database connection.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection

_pools: dict[tuple[int, str], ThreadPoolExecutor] = {}  # by process and name


def pool(name: str, workers: int) -> ThreadPoolExecutor:
    """This process's pool of that name (a pool's threads do not survive a fork)."""
    pid = os.getpid()
    if (pid, name) not in _pools:
        for inherited in [key for key in _pools if key[0] != pid]:  # a parent's, whose threads this process lacks
            del _pools[inherited]
        _pools[(pid, name)] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    return _pools[(pid, name)]


def close_shard_connections() -> None:
    """Close the connection the shard-search pool thread keeps open (before a test database is dropped)."""
    shard_pool = _pools.get((os.getpid(), "shard-search"))
    if shard_pool is not None:
        shard_pool.submit(lambda: connection.close()).result()  # looked up on the pool's thread: its own connection


def on_own_connection(fn: Any, *args: Any) -> Any:
    """fn(*args) on a pool thread's own connection, replaced first if it has broken or aged (as a request would)."""
    connection.close_if_unusable_or_obsolete()
    return fn(*args)
