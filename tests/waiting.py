"""Waiting in tests: on a condition, with a deadline and a failure that says what did not happen (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, seconds: float, what: str | Callable[[], str], every: float = 0.05) -> T:
    """The first true value of condition(); AssertionError naming `what` when none comes within `seconds` (a callable
    `what` is asked then, so it can show a log as it is at the deadline)."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {what() if callable(what) else what}"
        time.sleep(every)
    return value
