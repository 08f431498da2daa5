"""Assistant exchanges and note drafts. A draft is never a note: only signing turns it into a ClinicalNote."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from clinic.models import ClinicalNote, Encounter, Patient


class AssistantExchange(models.Model):
    """One question and its answer, kept per patient and user (the conversation is the ordered list)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    asked_at = models.DateTimeField(default=timezone.now)

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    question = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    backend = models.CharField(max_length=40, blank=True)
    answer = models.JSONField(default=dict, blank=True)  # {"answer", "sentences": [{text, citations}]}
    partial_text = models.TextField(blank=True, help_text="the model's text so far, unchecked; cleared when done")

    class Meta:
        ordering = ["asked_at", "id"]
        indexes = [models.Index(fields=["patient", "user", "asked_at"])]

    def __str__(self) -> str:
        return f"{self.asked_at:%Y-%m-%d %H:%M} {self.question[:60]}"

    def as_answer(self) -> dict[str, Any]:
        """The exchange as the API and the panel show it; `poll_url` until the answer is there."""
        body = {"answer": "", "sentences": [], "tools": [], "backend": self.backend, **self.answer}
        body |= {"id": self.pk, "status": self.status, "question": self.question, "asked_at": self.asked_at.isoformat()}
        if self.status in (self.Status.PENDING, self.Status.RUNNING):
            body |= {"poll_url": f"/api/v1/asks/{self.pk}", "partial_text": self.partial_text}
        return body


class Draft(models.Model):
    class Kind(models.TextChoices):
        DISCHARGE_SUMMARY = "discharge_summary", "Discharge summary"
        PROGRESS_NOTE = "progress_note", "Progress note (SOAP)"
        REFERRAL_LETTER = "referral_letter", "Referral letter"
        PATIENT_INSTRUCTIONS = "patient_instructions", "Patient instructions"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"
        SIGNED = "signed"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    period_start = models.DateField(null=True, blank=True, help_text="draft about the last encounter in this period")
    period_end = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    backend = models.CharField(max_length=40, blank=True)
    model_name = models.CharField(max_length=300, blank=True)
    sections = models.JSONField(default=list, blank=True)  # [{title, sentences: [{text, citations, support}]}]
    generated = models.JSONField(default=list, blank=True)  # sections as generated, to record edits at signing
    partial_text = models.TextField(blank=True, help_text="the section being written, unchecked; cleared when done")
    error = models.TextField(blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.OneToOneField(ClinicalNote, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.patient} ({self.status})"

    @property
    def text(self) -> str:
        """The draft as prose: section headings and sentences, no citation payloads."""
        return sections_text(self.sections)

    @property
    def generated_text(self) -> str:
        """The draft as the model wrote it, before the clinician's edits."""
        return sections_text(self.generated)


def sections_text(sections: list[dict[str, Any]]) -> str:
    parts = []
    for section in sections:
        body = " ".join(s["text"] for s in section.get("sentences", []))
        parts.append(f"{section['title']}\n{body}".strip())
    return "\n\n".join(parts)


class Feedback(models.Model):
    """A clinician's rating of one sentence of an answer or of a draft: helpful, wrong or unsupported by what it
    cites, with an optional correction. The sentence is copied: answers and drafts change, the rating stays."""

    class Rating(models.TextChoices):
        HELPFUL = "helpful", "helpful"
        WRONG = "wrong", "wrong"
        UNSUPPORTED = "unsupported", "unsupported by its citations"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    exchange = models.ForeignKey(AssistantExchange, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback")
    draft = models.ForeignKey(Draft, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback")
    section = models.PositiveIntegerField(null=True, blank=True, help_text="the draft's section (index)")
    sentence = models.PositiveIntegerField(help_text="the sentence (index) in the answer or the section")
    text = models.TextField(help_text="the sentence as it was rated")
    citations = models.JSONField(default=list, blank=True)
    rating = models.CharField(max_length=12, choices=Rating.choices)
    correction = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    backend = models.CharField(max_length=40, blank=True)
    model_name = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"]), models.Index(fields=["user", "exchange", "draft", "section", "sentence"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(exchange__isnull=False, draft__isnull=True)
                | models.Q(exchange__isnull=True, draft__isnull=False),
                name="feedback_on_an_answer_or_a_draft",
            )
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.rating}: {self.text[:60]}"


class EvaluationRun(models.Model):
    """One run of `manage.py evaluate`: the figures of each suite, for a backend, model and embedding model, at a
    code version. The quality page compares runs: a new model goes live only when it measures at least as well."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    backend = models.CharField(max_length=40)
    model_name = models.CharField(max_length=300, blank=True)
    embedding_model = models.CharField(max_length=300, blank=True)
    code_version = models.CharField(max_length=64, help_text="git commit, or 'unknown'")
    figures = models.JSONField(default=dict, blank=True, help_text="{suite: {figure: value}}")
    skipped = models.JSONField(default=dict, blank=True, help_text="{suite: why it did not run}")
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [("view_quality", "See the quality page: feedback, edits, card decisions and evaluation runs")]

    def __str__(self) -> str:
        model = f" {self.model_name}" if self.model_name else ""
        return f"#{self.pk} {self.started_at:%Y-%m-%d %H:%M} {self.backend}{model} @ {self.code_version[:10]}"
