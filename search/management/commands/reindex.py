from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from clinic.errors import InvalidInput
from search import embedding, services
from search.models import IndexState

STALL_SECONDS = 90  # no progress for this long: no worker is consuming "embed", so embed here instead


class Command(BaseCommand):
    help = "Index everything pending (or everything again for a new model) and wait until done."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="a local sentence-transformers/transformers model directory")
        parser.add_argument("--no-wait", action="store_true", help="only queue the work")

    def handle(self, *args: Any, model: str | None, no_wait: bool, **options: Any) -> None:
        try:
            self._start_model_change(model)
        except InvalidInput as exc:
            raise CommandError(str(exc)) from exc
        new = services.index_missing()
        name, _ = services.indexing_model()
        pending = services.pending_chunk_ids(model=name)
        services.chunks_enqueue(chunk_ids=pending)
        self.stdout.write(f"{len(new)} new chunks; {len(pending)} chunks queued for embedding with {name}")
        if no_wait:
            return
        self._wait(name, len(pending))
        services.model_switch_if_complete()
        self.stdout.write(f"index complete: serving {IndexState.current().active_model}")

    def _start_model_change(self, model: str | None) -> None:
        state = IndexState.current()
        wanted = model or embedding.configured_model()[0]
        if model or (state.active_model and wanted != state.active_model and not state.target_model):
            services.model_change(path=embedding.model_path(wanted))

    def _wait(self, name: str, total: int) -> None:
        left = total
        last_change = time.monotonic()
        with tqdm(total=total, unit="chunk", desc="embedding", file=self.stderr._out) as bar:
            while left:
                time.sleep(1)
                now_left = len(services.pending_chunk_ids(model=name))
                if now_left != left:
                    bar.update(left - now_left)
                    left, last_change = now_left, time.monotonic()
                elif time.monotonic() - last_change > STALL_SECONDS:
                    self.stderr.write("no worker is embedding: continuing in this process")
                    for chunk_ids in _batches(services.pending_chunk_ids(model=name)):
                        bar.update(services.chunks_embed(chunk_ids=chunk_ids))
                    left = len(services.pending_chunk_ids(model=name))


def _batches(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + services.EMBED_BATCH] for i in range(0, len(ids), services.EMBED_BATCH)]
