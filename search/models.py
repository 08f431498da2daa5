"""The search index: chunks of notes, reports and knowledge documents, their embeddings, the active model."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField


class KnowledgeDocument(models.Model):
    """A reference passage for the assistant (MedQuAD, guidelines…), its own corpus, keyed by its source id."""

    doc_id = models.CharField(max_length=200, unique=True)
    title = models.CharField(max_length=1000, blank=True)
    text = models.TextField()
    source = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    imported_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.title or self.doc_id


class Chunk(models.Model):
    """One section-aware passage of a source row, with its full-text vector and context tags."""

    class SourceType(models.TextChoices):
        NOTE = "note"
        REPORT = "report"
        KNOWLEDGE = "knowledge"

    source_type = models.CharField(max_length=12, choices=SourceType.choices)
    source_id = models.CharField(max_length=200)
    patient = models.ForeignKey("clinic.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    ordinal = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=1000, blank=True)
    section = models.CharField(max_length=120, blank=True)
    note_type = models.CharField(max_length=300, blank=True)
    date = models.DateTimeField(null=True, blank=True)
    text = models.TextField()
    negated = models.BooleanField(default=False)
    uncertain = models.BooleanField(default=False)
    other_subject = models.BooleanField(default=False)
    search_vector = SearchVectorField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_type", "source_id", "ordinal"], name="chunk_source_ordinal_unique")
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
            models.Index(fields=["patient", "source_type"], name="chunk_patient_type"),
            models.Index(fields=["source_type", "source_id"], name="chunk_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source_type} {self.source_id} #{self.ordinal} {self.section}"


class ChunkEmbedding(models.Model):
    """A chunk's vector under one model; several models coexist while a re-embedding is under way."""

    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings")
    # The chunk's patient, copied so that the exact search within one chart reads that chart's vectors through one
    # index instead of one lookup per chunk (p50 9.8 -> 5.4 ms for 5,000 chunks among 1,000,000).
    patient = models.ForeignKey(
        "clinic.Patient", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model = models.CharField(max_length=300)
    dimension = models.PositiveIntegerField()
    embedding = VectorField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chunk", "model"], name="embedding_chunk_model_unique")]
        indexes = [
            models.Index(fields=["model", "chunk"], name="embedding_model_chunk"),
            models.Index(fields=["patient", "model"], name="embedding_patient_model", condition=models.Q(patient__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"chunk {self.chunk_id} · {self.model} ({self.dimension})"


class IndexState(models.Model):
    """The model that serves queries, and the one being embedded towards (switched when complete)."""

    active_model = models.CharField(max_length=300, blank=True)
    active_dimension = models.PositiveIntegerField(default=0)
    target_model = models.CharField(max_length=300, blank=True)
    target_path = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"serving {self.active_model or '-'}" + (f", building {self.target_model}" if self.target_model else "")

    @classmethod
    def current(cls) -> IndexState:
        state, _ = cls.objects.get_or_create(pk=1)
        return state


class Cohort(models.Model):
    """A saved cohort: its criteria (re-run on open) and the patients it held when saved."""

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cohorts")
    criteria = models.JSONField(default=dict)
    description = models.CharField(max_length=1000, blank=True)
    patient_ids = models.JSONField(default=list, blank=True)  # snapshot at save
    patient_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="cohort_owner_name_unique")]

    def __str__(self) -> str:
        return self.name
