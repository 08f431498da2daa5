"""Bulk upsert through psycopg's pipelined executemany.

The importer writes tens of thousands of rows a minute. Django's bulk_create builds one statement with a
placeholder per value and instantiates a model per row; here one prepared INSERT … ON CONFLICT runs once per
row in a single pipeline, with values passed as they are (JSON columns as jsonb), and returns the ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, models
from django.utils import timezone
from psycopg.types.json import Jsonb


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def upsert(model: type[models.Model], rows: Sequence[dict[str, Any]], *, unique: Sequence[str]) -> list[int]:
    """Insert or update `rows` (dicts keyed by field attname) on the `unique` columns; returns ids in row order."""
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    unique_columns = [f.column for f in fields if f.name in unique or f.attname in unique]
    quoted = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{c}"' for c in unique_columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in unique_columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({quoted}) VALUES ({placeholders}) '
        f'ON CONFLICT ({conflict}) DO UPDATE SET {updates} RETURNING "id"'
    )
    now = timezone.now()
    readers = [_reader(f, now) for f in fields]
    params = [[read(row) for read in readers] for row in rows]
    connection.ensure_connection()
    raw_connection = connection.connection
    threshold = raw_connection.prepare_threshold
    # A prepared statement: parsing and planning the same INSERT for every row was most of the server's work.
    raw_connection.prepare_threshold = 0
    try:
        with raw_connection.cursor() as cursor:
            cursor.executemany(sql, params, returning=True)
            ids = []
            while True:
                ids.append(cursor.fetchone()[0])  # type: ignore[index]
                if not cursor.nextset():
                    break
    finally:
        raw_connection.prepare_threshold = threshold
    return ids


def _reader(field: models.Field, now: Any) -> Any:
    name = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda row: row.get(name) or now
    default = field.get_default()
    if isinstance(field, models.JSONField):
        return lambda row: Jsonb(row.get(name, default), dumps=_dumps)
    return lambda row: row.get(name, default)
