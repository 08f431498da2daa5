"""'Records changed' notifications: clinic emits, search (and anyone else) subscribes.

clinic never imports search; search registers a listener at start-up (SearchConfig.ready). Listeners are
called after the writing transaction commits, with the model label and the primary keys that changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

logger = logging.getLogger(__name__)

Listener = Callable[[str, list[int]], None]
_listeners: list[Listener] = []


def on_records_changed(listener: Listener) -> Listener:
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def records_changed(model_label: str, ids: Iterable[int]) -> None:
    """Tell listeners, once the current transaction commits, that these rows were created or changed."""
    id_list = sorted(set(ids))
    if not id_list:
        return

    def notify() -> None:
        for listener in list(_listeners):
            listener(model_label, id_list)

    transaction.on_commit(notify)
