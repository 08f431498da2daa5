"""Shared fixtures: named users, an API client with a real bearer token, the shared data folder, a real worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.access import user_with_roles

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Test jobs travel in Redis keys of their own: a `make run` worker on the same data must not take them."""
    from carebase.celery import app

    app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": f"carebase-test-{os.getpid()}:"}


@pytest.fixture(autouse=True)
def _shard_search_connection_closed() -> Iterator[None]:
    """A search outside a transaction leaves a pool thread's connection open (search.selectors): closed after each
    test, or the test database could not be dropped at the end."""
    yield
    from search.selectors import close_shard_connections

    close_shard_connections()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the checkout; tests that need it are skipped (and say so) when it is absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (absent on this machine)")
    return SHARED_DATA


@pytest.fixture
def clinician(db):
    """Dr Grey, a clinician: she reads the charts of her care team's patients (fixtures that make a patient for her
    put her on its care team; tests/clinic/test_access.py tests the rules themselves)."""
    return user_with_roles("dr_grey", "clinician", password="pw-clinician-1", first_name="Meredith", last_name="Grey")


@pytest.fixture
def steward(db):
    """A data steward: the admin, ingestion, curation and audit review; no identified chart."""
    return user_with_roles("steward", "steward", password="pw-steward-1", is_staff=True)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_user("root", password="pw-root-12345", is_staff=True, is_superuser=True)


@pytest.fixture
def stranger(db):
    return get_user_model().objects.create_user("stranger", password="pw-stranger-1", is_active=False)


@pytest.fixture
def api_token(clinician) -> str:
    from clinic.services import api_token_create

    return api_token_create(user=clinician, name="tests")


@pytest.fixture
def api_client(api_token) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture
def integration_client(db) -> Client:
    """An interface engine's client: the integration role's token (system/*.read, system/*.write)."""
    from clinic.services import api_token_create

    user = user_with_roles("interface-engine", "integration")
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, name='tests')}")


@pytest.fixture
def logged_in(clinician) -> Client:
    client = Client()
    client.force_login(clinician)
    return client


@pytest.fixture
def celery_worker_real(transactional_db, settings) -> Iterator[object]:
    """A real Celery worker (threads, in this process) consuming the real Redis broker, all queues. Without the
    workers' sweep thread (carebase.sweep): its connection would outlive the test's database."""
    from celery.contrib.testing.worker import start_worker

    from carebase.celery import app

    settings.WORKER_SWEEP_SECONDS = 0
    app.conf.task_always_eager = False
    _test_queues_emptied(app)
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, queues=["default", "embed", "llm"], shutdown_timeout=30
    ) as worker:
        yield worker


def _test_queues_emptied(app: Any) -> None:
    """Jobs an earlier test left in this run's queues (enqueued with no worker to take them) are not this test's:
    its worker would take them, and they would count among its jobs."""
    import redis

    prefix = app.conf.broker_transport_options["global_keyprefix"]
    client = redis.Redis.from_url(app.conf.broker_url)
    try:
        keys = [k for k in client.scan_iter(f"{prefix}*") if b"_kombu.binding" not in k]
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # no Redis: the worker says so itself


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser_page(monkeypatch) -> Iterator[object]:
    """A page in Debian's Chromium (never a downloaded browser); skipped, saying why, where it is not installed.

    `page.console_errors` collects the browser console's errors (a Content Security Policy violation is one).
    """
    if not CHROMIUM.exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs its own event loop in this thread, which Django's ORM would refuse.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        yield page
        browser.close()
        # Queries made while Playwright's loop ran used their own connection (asgiref locals are per context):
        # close it here, or the test database cannot be dropped at the end of the session.
        from django.db import connections

        connections.close_all()


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Sign in through the login page, as a person would."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
