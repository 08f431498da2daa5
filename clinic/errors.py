"""Domain errors: each says where the problem is and what to do, for people and for API clients."""

from __future__ import annotations

from typing import Any


class InvalidInput(Exception):
    """Bad input from a file, an upload or a request body. `errors` lists each problem with its place."""

    status = 400

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
