"""Browser tests: Playwright's sync API runs its own event loop in this thread, which Django's ORM would refuse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A page in Debian's Chromium (never a downloaded browser); skipped, saying why, where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()
        # Queries made while Playwright's loop ran used their own connection (asgiref locals are per context):
        # close it here, or the test database cannot be dropped at the end of the session.
        connections.close_all()
