"""Celery tasks of the agents app (queue `llm`): thin, take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from agents.services import draft_generate, exchange_answer


@shared_task(name="agents.tasks.draft_generate", acks_late=True)
def draft_generate_task(draft_id: int) -> None:
    draft_generate(draft_id=draft_id)


@shared_task(name="agents.tasks.exchange_answer", acks_late=True)
def exchange_answer_task(exchange_id: int) -> None:
    exchange_answer(exchange_id=exchange_id)
