"""Decision support as data: rules a steward manages, every time one fires, and what clinicians decided.

A rule is a kind (one evaluator in cds.engine) with parameters validated for that kind (cds.parameters), a card
summary and detail written as templates, an indicator, and the knowledge passage or guideline it rests on. A
firing keeps the card as it was shown and the chart records it cited; a decision is a clinician accepting or
dismissing that card (with a reason), from the patient page or from an EHR's CDS Hooks feedback.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from clinic.models import Patient


class Rule(models.Model):
    class Kind(models.TextChoices):
        CARE_GAP = "care_gap", "care gap: a condition without a test or procedure within a time window"
        LAB_THRESHOLD = "lab_threshold", "lab value above or below a threshold"
        LAB_TREND = "lab_trend", "lab value rising or falling"
        CONDITION_MEDICATION = "condition_medication", "condition–medication conflict"
        ALLERGY_MEDICATION = "allergy_medication", "allergy–medication conflict (drug ingredients)"
        VARIANT_SCREENING = "variant_screening", "genomic variant without the matching screening"
        IMMUNIZATION_DUE = "immunization_due", "immunization overdue"

    class Indicator(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        CRITICAL = "critical"

    key = models.SlugField(max_length=80, unique=True, help_text="stable id, used in firings, statistics and the API")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    parameters = models.JSONField(default=dict, blank=True, help_text="checked for the kind when saved (see docs/cds.md)")
    indicator = models.CharField(max_length=10, choices=Indicator.choices, default=Indicator.INFO)
    summary = models.CharField(
        max_length=140,
        help_text="the card's one line (at most 140 characters once filled), e.g. 'HbA1c {value} {unit} on {date}'",
    )
    detail = models.TextField(blank=True, help_text="markdown; the same {placeholders}; the cited records are appended")
    suggestion = models.CharField(max_length=200, blank=True, help_text="the action offered, e.g. 'Order an HbA1c'")
    knowledge_doc_id = models.CharField(
        max_length=200, blank=True, help_text="a knowledge passage (doc id) the card cites, when imported"
    )
    reference = models.CharField(max_length=300, blank=True, help_text="the guideline the rule follows")
    reference_url = models.URLField(max_length=500, blank=True)
    enabled = models.BooleanField(default=False, help_text="live: cards are shown; try it on the cohort first")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]
        permissions = [("try_rule", "Try a rule on the cohort (counts, without recording firings)")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from cds.parameters import rule_problems

        problems = rule_problems(kind=self.kind, parameters=self.parameters, summary=self.summary, detail=self.detail)
        if problems:
            raise ValidationError({field: message for field, message in problems})

    @property
    def hooks(self) -> list[str]:
        """The CDS Hooks this rule answers: conflicts are checked on orders as well as on opening the chart."""
        conflicts = (self.Kind.CONDITION_MEDICATION, self.Kind.ALLERGY_MEDICATION)
        return ["patient-view", "order-select"] if self.kind in conflicts else ["patient-view"]


class RuleFiring(models.Model):
    """One card shown (or returned to an EHR, or read by the assistant): the rule, the patient and the records cited."""

    class Hook(models.TextChoices):
        PATIENT_VIEW = "patient-view"
        ORDER_SELECT = "order-select"
        ASSISTANT = "assistant"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="the card's uuid in CDS Hooks")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="firings")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    fired_at = models.DateTimeField(default=timezone.now)
    hook = models.CharField(max_length=20, choices=Hook.choices)
    channel = models.CharField(max_length=10, default="web")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    fingerprint = models.CharField(max_length=40, help_text="rule + cited records: the same finding has the same one")
    indicator = models.CharField(max_length=10)
    summary = models.CharField(max_length=140)
    citations = models.JSONField(default=list, blank=True)  # [{source_type, source_id, reference, label}] + knowledge
    card = models.JSONField(default=dict, blank=True, help_text="the card as returned")

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "rule", "fingerprint"]),
            models.Index(fields=["rule", "fired_at"]),
            models.Index(fields=["fired_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.fired_at:%Y-%m-%d %H:%M} {self.rule.key}: {self.summary}"


class CardDecision(models.Model):
    """A clinician's answer to a card: accepted, or dismissed with a reason (the CDS Hooks override reasons)."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted"
        DISMISSED = "dismissed"

    class Reason(models.TextChoices):
        NOT_RELEVANT = "not-relevant", "Not relevant to this patient"
        ALREADY_ADDRESSED = "already-addressed", "Already done or addressed elsewhere"
        PATIENT_DECLINED = "patient-declined", "Patient declined"
        BENEFIT_OUTWEIGHS_RISK = "benefit-outweighs-risk", "Benefit outweighs the risk"
        CHART_WRONG = "chart-wrong", "The chart data it rests on is wrong"
        OTHER = "other", "Other (say why)"

    firing = models.ForeignKey(RuleFiring, on_delete=models.CASCADE, related_name="decisions")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    fingerprint = models.CharField(max_length=40)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=30, choices=Reason.choices, blank=True)
    comment = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    channel = models.CharField(max_length=10, default="web")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["patient", "rule", "fingerprint"]), models.Index(fields=["rule", "at"])]

    def __str__(self) -> str:
        why = f" ({self.get_reason_display()})" if self.reason else ""
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.outcome}{why}"
