"""The jobs outbox: jobs that found no broker to take them (Redis away), sent when it answers again."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PendingJob(models.Model):
    task = models.CharField(max_length=200, help_text="the Celery task's name")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="sends tried since, all failed")
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} kept since {self.created_at:%Y-%m-%d %H:%M:%S}"
