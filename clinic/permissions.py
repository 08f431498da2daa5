"""Django's ModelBackend with each user's permissions remembered for a few seconds per process.

Every chart request asks whether the user holds a role's permission (clinic.access); ModelBackend answers it with
two queries per request (the user's own permissions and their groups'), a third of what the access check costs.
Here the set is kept PERMISSION_CACHE_SECONDS (default 10) per process and dropped at once in the process that
changes a role, a group's permissions or a user's; other processes see a revoked role within those seconds.
Deactivating a user takes effect at once everywhere (has_perm reads is_active from the user row of the request).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

_lock = threading.Lock()
_sets: dict[int, tuple[float, frozenset[str]]] = {}


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if hasattr(user_obj, "_perm_cache"):
            return user_obj._perm_cache
        now = time.monotonic()
        held = _sets.get(user_obj.pk)
        if held is None or held[0] < now:
            perms = frozenset(super().get_all_permissions(user_obj))  # sets user_obj._perm_cache too
            with _lock:
                _sets[user_obj.pk] = (now + settings.PERMISSION_CACHE_SECONDS, perms)
        else:
            user_obj._perm_cache = set(held[1])
        return user_obj._perm_cache


def forget_permissions(**_: Any) -> None:
    """A role, a group's permissions or a user changed: every remembered set goes (they are cheap to read again)."""
    with _lock:
        _sets.clear()
