from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.errors import InvalidInput
from search.services import knowledge_import


class Command(BaseCommand):
    help = "Import reference documents (JSONL: id, title, text, source?, url?) and queue them for indexing."
    # bulk loads skip the system checks: they import every URL module (the REST API, LangChain), seconds
    # of start-up a script running many imports pays each time; `manage.py check` and the server still run them
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            count = knowledge_import(path=path)
        except InvalidInput as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} knowledge documents imported from {path}; indexing queued (run `reindex` to wait)")
