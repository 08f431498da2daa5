"""Development settings for the tests and tools that need no secrets: DEBUG on (so the public development
SECRET_KEY and DEID_SECRET are allowed) unless the environment says otherwise. Production uses carebase.settings."""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "true")

from carebase.settings import *  # noqa: E402, F403
