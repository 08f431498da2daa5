"""While a model writes, the panel shows its text so far, marked unchecked and uncited; the cited answer
replaces it when the job is done."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from agents import agent, services
from agents.models import AssistantExchange, Draft
from tests.waiting import wait_until

HTMX = {"HTTP_HX_REQUEST": "true"}


def in_background(job, **kwargs) -> threading.Thread:
    """A worker's job, in a thread with its own database connection (as a Celery worker would have)."""

    def work() -> None:
        try:
            job(**kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def poll_until(client, url: str, text: bytes, seconds: float = 60.0):
    """The page once it shows `text`, polled as the browser would; a clear failure when it never does."""

    def page_with_text():
        page = client.get(url, **HTMX)
        return page if text in page.content else None

    return wait_until(page_with_text, seconds=seconds, what=f"{text!r} on {url}")


def finished(worker: threading.Thread) -> None:
    worker.join(timeout=60)
    assert not worker.is_alive(), "the job was still running after 60 s"


@pytest.mark.django_db(transaction=True)
def test_it_streams_the_answer_as_unchecked_text_then_replaces_it_with_the_cited_one(
    ada, clinician, logged_in, api_client, openai_backend, monkeypatch
):
    monkeypatch.setattr(agent, "STREAM_EVERY", 0)  # save every piece: the test looks before the reply is over
    openai_backend.hold = threading.Event()  # the server stops halfway through its reply until released
    exchange = AssistantExchange.objects.create(
        patient=ada, user=clinician, question="Latest HbA1c?", status=AssistantExchange.Status.PENDING
    )
    url = f"/assistant/asks/{exchange.pk}/"
    worker = in_background(services.exchange_answer, exchange_id=exchange.pk)

    page = poll_until(logged_in, url, b"The latest HbA1c is 6.7")  # the words before the pause
    assert b"not yet checked" in page.content and b'data-testid="partial-text"' in page.content
    assert b'data-testid="citation"' not in page.content and b"[1]" not in page.content
    polled = api_client.get(f"/api/v1/asks/{exchange.pk}").json()
    assert polled["status"] == "running" and polled["sentences"] == []
    assert polled["partial_text"] == "The latest HbA1c is 6.7"

    openai_backend.hold.set()
    finished(worker)
    page = logged_in.get(url, **HTMX)
    assert b"not yet checked" not in page.content and b'data-testid="citation"' in page.content
    exchange.refresh_from_db()
    assert exchange.status == "ready" and exchange.partial_text == ""
    assert exchange.answer["answer"] == "The latest HbA1c is 6.7 %."


@pytest.mark.django_db(transaction=True)
def test_it_streams_a_draft_section_then_shows_the_grounded_draft(ada, logged_in, openai_backend, monkeypatch):
    monkeypatch.setattr(agent, "STREAM_EVERY", 0)
    openai_backend.hold = threading.Event()
    draft = Draft.objects.create(patient=ada, kind="progress_note")
    worker = in_background(services.draft_generate, draft_id=draft.pk)

    page = poll_until(logged_in, f"/assistant/drafts/{draft.pk}/", b"The latest HbA1c is 6.7")  # the words before the pause
    assert b"not yet checked" in page.content and b'data-testid="partial-text"' in page.content
    assert b"Sign and file" not in page.content
    assert Draft.objects.get(pk=draft.pk).partial_text == "The latest HbA1c is 6.7"

    openai_backend.hold.set()
    finished(worker)
    page = logged_in.get(f"/assistant/drafts/{draft.pk}/", **HTMX)
    assert b"not yet checked" not in page.content and b"Sign and file" in page.content
    draft.refresh_from_db()
    assert draft.status == "ready" and draft.partial_text == ""


def test_it_shows_a_running_drafts_partial_text_as_unchecked(logged_in, ada):
    draft = Draft.objects.create(
        patient=ada, kind="progress_note", status=Draft.Status.RUNNING, partial_text="Blood pressure is well controlled"
    )
    page = logged_in.get(f"/assistant/drafts/{draft.pk}/", **HTMX)
    assert b"not yet checked" in page.content and b"Blood pressure is well controlled" in page.content
    assert b"Sign and file" not in page.content and b'hx-trigger="load delay:1s"' in page.content
