from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.management.base import BulkLoadCommand
from search.services import knowledge_import


class Command(BulkLoadCommand):
    help = "Import reference documents (JSONL: id, title, text, source?, url?) and queue them for indexing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            count = knowledge_import(path=path)
        except InvalidInput as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} knowledge documents imported from {path}; indexing queued (run `reindex` to wait)")
