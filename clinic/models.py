"""The clinical data ecosystem: FHIR-aligned relational tables, imaging, genomics, timeline, audit.

Every imported row keeps its FHIR id (`fhir_id`, unique per table), the resource as imported (`raw`, with
references rewritten to `Type/id`), a hash of it (re-imports skip unchanged rows) and the IngestionRun that
wrote it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from clinic.dates import age_on


class IngestionRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "partial (some units rejected)"
        FAILED = "failed"

    kind = models.CharField(max_length=20, default="fhir")  # fhir, dicom, vcf, clinvar, notes, knowledge
    source = models.CharField(max_length=20, default="cli")  # cli, api, admin, synthesize
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    units = models.PositiveIntegerField(default=0, help_text="bundles or files seen")
    units_failed = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="rows written, by resource type")
    unchanged = models.JSONField(default=dict, blank=True, help_text="rows already up to date, by type")
    skipped = models.JSONField(default=dict, blank=True, help_text="resource types not stored, by type")
    errors = models.JSONField(default=list, blank=True)  # [{file, entry, resource_type, field, message}]

    class Meta:
        ordering = ["-started_at"]
        permissions = [("import_data", "Import FHIR, DICOM, VCF, notes and knowledge")]

    def __str__(self) -> str:
        return f"{self.kind} run #{self.pk} ({self.status})"

    @property
    def duration(self) -> dt.timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + sum(self.unchanged.values())


class FhirRecord(models.Model):
    fhir_id = models.CharField(max_length=128, unique=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Organization(FhirRecord):
    name = models.CharField(max_length=300, blank=True)
    identifier_system = models.CharField(max_length=200, blank=True)
    identifier_value = models.CharField(max_length=200, blank=True, db_index=True)
    city = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return self.name or self.fhir_id


class Practitioner(FhirRecord):
    name = models.CharField(max_length=300, blank=True)
    identifier_system = models.CharField(max_length=200, blank=True)
    identifier_value = models.CharField(max_length=200, blank=True, db_index=True)
    # The Carebase user who is this practitioner: their encounters put them on the patients' care teams.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="practitioner"
    )

    def __str__(self) -> str:
        return self.name or self.fhir_id


class Patient(FhirRecord):
    mrn = models.CharField(max_length=120, blank=True, db_index=True)
    given_name = models.CharField(max_length=200, blank=True)
    family_name = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=300, blank=True, db_index=True)
    birth_date = models.DateField(null=True, blank=True, db_index=True)
    sex = models.CharField(max_length=20, blank=True)
    deceased_at = models.DateTimeField(null=True, blank=True)
    city = models.CharField(max_length=120, blank=True)
    state = models.CharField(max_length=120, blank=True)
    race = models.CharField(max_length=120, blank=True)
    ethnicity = models.CharField(max_length=120, blank=True)
    language = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        permissions = [
            ("read_chart", "Read the charts of patients on their care team"),
            ("break_glass", "Open a chart outside the care team for a while, giving a reason"),
            ("read_all_charts", "Read every chart (system clients)"),
            ("query_cohort_counts", "Count the patients matching criteria, without identities"),
        ]

    def __str__(self) -> str:
        return self.name or self.fhir_id

    def age(self, on: dt.date | None = None) -> int | None:
        if self.birth_date is None:
            return None
        end = self.deceased_at.date() if self.deceased_at else (on or timezone.localdate())
        return age_on(birth=self.birth_date, on=end)


class Coded(models.Model):
    """A row whose meaning is one code: system + code + display, as FHIR has it."""

    code_system = models.CharField(max_length=200, blank=True)
    code = models.CharField(max_length=64, blank=True, db_index=True)
    display = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.display or self.code


class Encounter(FhirRecord):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="encounters")
    status = models.CharField(max_length=40, blank=True)
    class_code = models.CharField(max_length=40, blank=True)
    type_code = models.CharField(max_length=64, blank=True)
    type_display = models.CharField(max_length=500, blank=True)
    reason_code = models.CharField(max_length=64, blank=True)
    reason_display = models.CharField(max_length=500, blank=True)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    practitioner = models.ForeignKey(Practitioner, null=True, blank=True, on_delete=models.SET_NULL)
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        indexes = [models.Index(fields=["patient", "start"])]

    def __str__(self) -> str:
        when = self.start.date().isoformat() if self.start else "undated"
        return f"{self.type_display or self.class_code or 'Encounter'} ({when})"


class PatientRecord(FhirRecord, Coded):
    """A coded clinical fact about one patient, maybe within one encounter."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="%(class)ss")
    encounter = models.ForeignKey(Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=40, blank=True)

    class Meta:
        abstract = True


class Condition(PatientRecord):
    clinical_status = models.CharField(max_length=40, blank=True)
    verification_status = models.CharField(max_length=40, blank=True)
    category = models.CharField(max_length=120, blank=True)
    onset = models.DateTimeField(null=True, blank=True)
    abatement = models.DateTimeField(null=True, blank=True)
    recorded = models.DateTimeField(null=True, blank=True)

    @property
    def is_active(self) -> bool:
        return self.clinical_status in ("active", "recurrence", "relapse")


class Observation(PatientRecord):
    category = models.CharField(max_length=120, blank=True)
    effective = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=60, blank=True)
    value_text = models.CharField(max_length=500, blank=True)
    interpretation = models.CharField(max_length=40, blank=True)
    ref_low = models.FloatField(null=True, blank=True)
    ref_high = models.FloatField(null=True, blank=True)
    ref_text = models.CharField(max_length=200, blank=True)
    components = models.JSONField(default=list, blank=True)  # [{code, display, value, unit, value_text}]

    class Meta:
        indexes = [models.Index(fields=["patient", "code", "effective"])]

    @property
    def flag(self) -> str:
        """H/L from the interpretation, else from the reference range."""
        if self.interpretation:
            return self.interpretation
        if self.value is not None and self.ref_high is not None and self.value > self.ref_high:
            return "H"
        if self.value is not None and self.ref_low is not None and self.value < self.ref_low:
            return "L"
        return ""

    def value_display(self) -> str:
        if self.value is not None:
            return f"{self.value:g} {self.unit}".strip()
        if self.components:
            return ", ".join(
                f"{c.get('display', c.get('code'))} {c.get('value', c.get('value_text', ''))} {c.get('unit', '')}".strip()
                for c in self.components
            )
        return self.value_text


class MedicationRequest(PatientRecord):
    intent = models.CharField(max_length=40, blank=True)
    authored_on = models.DateTimeField(null=True, blank=True)
    dosage_text = models.CharField(max_length=500, blank=True)
    reason_display = models.CharField(max_length=500, blank=True)
    requester = models.ForeignKey(Practitioner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class AllergyIntolerance(PatientRecord):
    clinical_status = models.CharField(max_length=40, blank=True)
    verification_status = models.CharField(max_length=40, blank=True)
    allergy_type = models.CharField(max_length=40, blank=True)
    category = models.CharField(max_length=120, blank=True)
    criticality = models.CharField(max_length=40, blank=True)
    recorded = models.DateTimeField(null=True, blank=True)
    reactions = models.JSONField(default=list, blank=True)  # [{manifestation, severity}]


class Procedure(PatientRecord):
    performed_start = models.DateTimeField(null=True, blank=True)
    performed_end = models.DateTimeField(null=True, blank=True)
    reason_display = models.CharField(max_length=500, blank=True)


class Immunization(PatientRecord):
    occurrence = models.DateTimeField(null=True, blank=True)


class DiagnosticReport(PatientRecord):
    category = models.CharField(max_length=200, blank=True)
    effective = models.DateTimeField(null=True, blank=True)
    issued = models.DateTimeField(null=True, blank=True)
    conclusion = models.TextField(blank=True)
    text = models.TextField(blank=True)  # decoded presentedForm
    result_ids = models.JSONField(default=list, blank=True)  # FHIR ids of the Observations it groups


class CarePlan(PatientRecord):
    intent = models.CharField(max_length=40, blank=True)
    category = models.CharField(max_length=300, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    activities = models.JSONField(default=list, blank=True)  # [{display, status}]
    addresses = models.CharField(max_length=500, blank=True)


class ClinicalNote(PatientRecord):
    """A note's text (from a DocumentReference, a note collection, or a signed draft)."""

    category = models.CharField(max_length=200, blank=True)
    date = models.DateTimeField(null=True, blank=True)
    title = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    author = models.ForeignKey(Practitioner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provenance = models.JSONField(default=dict, blank=True)  # for signed drafts: backend, model, sources, edits

    class Meta:
        indexes = [models.Index(fields=["patient", "date"])]


class ImagingStudy(PatientRecord):
    study_uid = models.CharField(max_length=128, null=True, blank=True, unique=True)
    started = models.DateTimeField(null=True, blank=True)
    modalities = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=500, blank=True)
    body_site = models.CharField(max_length=200, blank=True)
    accession = models.CharField(max_length=64, blank=True)
    num_series = models.PositiveIntegerField(default=0)
    num_instances = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "imaging studies"


class ImagingSeries(models.Model):
    study = models.ForeignKey(ImagingStudy, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(max_length=128, unique=True)
    number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=500, blank=True)
    num_instances = models.PositiveIntegerField(default=0)
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["number", "id"]
        verbose_name_plural = "imaging series"

    def __str__(self) -> str:
        return f"Series {self.number or ''} {self.description or self.modality}".strip()


class ImagingInstance(models.Model):
    series = models.ForeignKey(ImagingSeries, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=128, unique=True)
    sop_class_uid = models.CharField(max_length=128, blank=True)
    number = models.IntegerField(null=True, blank=True)
    slice_location = models.FloatField(null=True, blank=True)
    position = models.JSONField(default=list, blank=True)  # ImagePositionPatient
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(default=1)
    pixel_spacing = models.JSONField(default=list, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    transfer_syntax = models.CharField(max_length=128, blank=True)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    file = models.CharField(max_length=300, help_text="content-addressed path under MEDIA_ROOT")
    tags = models.JSONField(default=dict, blank=True)  # key tags shown beside the slice
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["number", "slice_location", "id"]

    def __str__(self) -> str:
        return f"Instance {self.number}"


class ClinVarVariant(models.Model):
    """The ClinVar reference table: what is known about a variant, by position and alleles."""

    assembly = models.CharField(max_length=16, default="GRCh38")
    chrom = models.CharField(max_length=32)
    pos = models.PositiveBigIntegerField()
    ref = models.TextField()
    alt = models.TextField()
    variation_id = models.CharField(max_length=32)
    gene = models.CharField(max_length=200, blank=True, db_index=True)
    hgvs = models.TextField(blank=True)
    significance = models.CharField(max_length=200, blank=True)
    review_status = models.CharField(max_length=200, blank=True)
    conditions = models.TextField(blank=True)
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["assembly", "chrom", "pos"])]
        constraints = [
            models.UniqueConstraint(fields=["assembly", "variation_id", "chrom", "pos", "ref", "alt"], name="clinvar_unique")
        ]

    def __str__(self) -> str:
        return f"{self.gene} {self.hgvs or f'{self.chrom}:{self.pos}{self.ref}>{self.alt}'}"


class GenomicReport(models.Model):
    """One imported VCF sample for one patient: the unit that appears on the timeline."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="genomic_reports")
    file_name = models.CharField(max_length=300)
    file_sha256 = models.CharField(max_length=64)
    sample = models.CharField(max_length=200, blank=True)
    assembly = models.CharField(max_length=16, default="GRCh38")
    vcf_version = models.CharField(max_length=16, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    num_variants = models.PositiveIntegerField(default=0)
    num_pathogenic = models.PositiveIntegerField(default=0)
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "file_sha256", "sample"], name="genomic_report_unique")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.sample})"


class GenomicVariant(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="variants")
    report = models.ForeignKey(GenomicReport, on_delete=models.CASCADE, related_name="variants")
    assembly = models.CharField(max_length=16, default="GRCh38")
    chrom = models.CharField(max_length=32)
    pos = models.PositiveBigIntegerField()
    ref = models.TextField()
    alt = models.TextField()
    variant_id = models.CharField(max_length=200, blank=True)  # rsID or caller id
    gene = models.CharField(max_length=200, blank=True, db_index=True)
    genotype = models.CharField(max_length=40, blank=True)
    zygosity = models.CharField(max_length=20, blank=True)  # heterozygous, homozygous, hemizygous, …
    depth = models.IntegerField(null=True, blank=True)
    quality = models.FloatField(null=True, blank=True)
    filter = models.CharField(max_length=200, blank=True)
    clinvar = models.ForeignKey(ClinVarVariant, null=True, blank=True, on_delete=models.SET_NULL)
    significance = models.CharField(max_length=200, blank=True, db_index=True)
    hgvs = models.TextField(blank=True)
    condition = models.TextField(blank=True)
    review_status = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["chrom", "pos"]
        constraints = [models.UniqueConstraint(fields=["report", "chrom", "pos", "ref", "alt"], name="variant_unique")]

    def __str__(self) -> str:
        return f"{self.gene or self.chrom}:{self.pos} {self.ref}>{self.alt}"

    @property
    def is_actionable(self) -> bool:
        s = self.significance.lower()
        return "pathogenic" in s and "conflicting" not in s


class TimelineEvent(models.Model):
    """One denormalised row per dated thing in a chart, so the timeline is one indexed query."""

    class Kind(models.TextChoices):
        ENCOUNTER = "encounter"
        CONDITION = "condition"
        OBSERVATION = "observation"
        MEDICATION = "medication"
        ALLERGY = "allergy"
        PROCEDURE = "procedure"
        IMMUNIZATION = "immunization"
        REPORT = "report"
        NOTE = "note"
        CAREPLAN = "careplan"
        IMAGING = "imaging"
        GENOMICS = "genomics"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="timeline")
    time = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=500)
    summary = models.CharField(max_length=500, blank=True)
    flag = models.CharField(max_length=8, blank=True)
    encounter = models.ForeignKey(Encounter, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_id = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["patient", "-time", "-id"], name="timeline_patient_time"),
            models.Index(fields=["patient", "kind", "-time", "-id"], name="timeline_patient_kind_time"),
        ]
        constraints = [models.UniqueConstraint(fields=["kind", "source_id"], name="timeline_source_unique")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d} {self.kind}: {self.title}"


# Each audit row is chained to the one before: its hash covers the previous row's hash and its own fields, so an
# edit or a gap is evident (manage.py verify_audit). Rows are numbered inside the trigger, after the lock, so
# their ids follow the chain even when transactions commit out of order.
AUDIT_CHAIN_SQL = """
    PERFORM pg_advisory_xact_lock(7283001);
    NEW.id := nextval(pg_get_serial_sequence('clinic_auditevent', 'id'));
    NEW.prev_hash := coalesce((SELECT hash FROM clinic_auditevent ORDER BY id DESC LIMIT 1), '');
    NEW.hash := clinic_audit_hash(NEW.prev_hash, NEW.id, NEW.at, NEW.username, NEW.channel, NEW.action,
                                  NEW.patient_id, NEW.patients, NEW.target, NEW.detail);
    RETURN NEW;
"""


class AuditEvent(models.Model):
    """Who read or changed which patient's data, when, through which channel, and what exactly.

    Append-only: PostgreSQL refuses UPDATE and DELETE on this table. The user and patient are kept as plain ids
    (no foreign-key constraint) and the username is copied, so deleting a user or a patient never blanks a trail.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    channel = models.CharField(max_length=10, default="web")  # web, api, admin, cli, worker
    action = models.CharField(max_length=40)  # an audit.Action value
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    patients = ArrayField(models.BigIntegerField(), default=list, blank=True, help_text="every patient a list showed")
    target = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient", "at"]),
            models.Index(fields=["user", "at"]),
            models.Index(fields=["action", "at"]),
            GinIndex(fields=["patients"], name="auditevent_patients"),
        ]
        permissions = [("review_audit", "Review the audit trail and break-the-glass events")]
        triggers = [
            pgtrigger.Protect(name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            pgtrigger.Trigger(name="audit_chain", when=pgtrigger.Before, operation=pgtrigger.Insert, func=AUDIT_CHAIN_SQL),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.target}"


class CareTeamMember(models.Model):
    """A user on a patient's care team (an explicit assignment): they read the chart until `ends_at`, if set."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="care_teams")
    role = models.CharField(max_length=60, blank=True, help_text="attending, resident, nurse, consultant…")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="empty: until removed")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["user", "patient"]), models.Index(fields=["patient", "user"])]

    def __str__(self) -> str:
        until = f" until {self.ends_at:%Y-%m-%d}" if self.ends_at else ""
        return f"{self.user} on the care team of {self.patient}{until}"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.starts_at <= now and (self.ends_at is None or self.ends_at > now)


class BreakGlass(models.Model):
    """A clinician opened a chart outside their care team, with a reason; a steward reviews every one."""

    class Review(models.TextChoices):
        PENDING = "pending", "awaiting review"
        REVIEWED = "reviewed", "reviewed: justified"
        FOLLOW_UP = "follow_up", "follow-up needed"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    channel = models.CharField(max_length=10, default="web")
    review = models.CharField(max_length=12, choices=Review.choices, default=Review.PENDING)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "break-the-glass event"
        indexes = [models.Index(fields=["user", "patient", "expires_at"]), models.Index(fields=["review", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} opened {self.patient}"


class ApiToken(models.Model):
    """A bearer token for integrations; only its SHA-256 is stored. Scopes are SMART on FHIR style
    (`user/*.read`, `system/Observation.read`, …), space-separated."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.CharField(max_length=1000, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="the patient of patient/ scopes"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def generate() -> str:
        return "cb_" + secrets.token_urlsafe(32)


class Dataset(models.Model):
    """A de-identified training dataset curated from the ecosystem: cohort + content + purpose → a folder of JSONL,
    DICOM and a data card (clinic.curation; docs/datasets.md)."""

    class Purpose(models.TextChoices):
        PRETRAINING = "pretraining", "pre-training (de-identified documents)"
        FINETUNING = "finetuning", "fine-tuning (chart → note pairs)"
        INSTRUCTION = "instruction", "instruction tuning (chat messages: chart or question → signed note or answer)"
        PREFERENCE = "preference", "preference pairs (prompt, chosen: signed, rejected: generated)"
        EVALUATION = "evaluation", "evaluation (held-out charts)"

    class Status(models.TextChoices):
        PENDING = "pending"
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    # Built in; other apps add kinds through clinic.curation.register_content (agents: exchanges, drafts).
    CONTENT_CHOICES = (
        "notes", "signed_notes", "reports", "problems", "medications", "allergies", "labs", "encounters", "imaging",
        "variants",
    )  # fmt: skip

    name = models.SlugField(max_length=100, unique=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.PRETRAINING)
    content = models.JSONField(default=list, help_text=f"any of {', '.join(CONTENT_CHOICES)}, exchanges, drafts")
    criteria = models.JSONField(default=dict, blank=True, help_text="condition_code, sex, age_min, age_max")
    seed = models.PositiveIntegerField(default=0, help_text="same seed, same data → same bytes")
    min_cell = models.PositiveIntegerField(
        default=5, help_text="k of the small-cell check: patients whose (age band, sex, ZIP3) cell is smaller are left out"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    phase = models.CharField(max_length=40, blank=True, help_text="what the build is doing now")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    build_started_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    file = models.CharField(max_length=300, blank=True, help_text="the dataset's folder under MEDIA_ROOT")
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the folder's SHA256SUMS")
    patients = models.PositiveIntegerField(default=0)
    records = models.PositiveIntegerField(default=0)
    card = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("download_dataset", "Download de-identified datasets")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def progress_text(self) -> str:
        if self.status != self.Status.BUILDING:
            return ""
        counted = f" {self.progress_done}/{self.progress_total}" if self.progress_total else ""
        return f"{self.phase or 'queued'}{counted}"


class ResearchConsent(FhirRecord):
    """A patient's decision about research use of their data: from an imported FHIR Consent (source fhir) or set by
    a steward (source steward, written as a FHIR Consent too). The latest active decision about research counts;
    a patient with none is included (opt-out model). Rows are never edited: a new decision is a new row."""

    class Decision(models.TextChoices):
        DENY = "deny", "opted out of research"
        PERMIT = "permit", "permits research"
        NONE = "", "not about research"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="research_consents")
    status = models.CharField(max_length=40, blank=True)  # FHIR Consent.status: active, inactive, rejected, …
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=10, default="fhir")  # fhir, steward
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["patient", "decided_at"])]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.source}, {self.decided_at:%Y-%m-%d})" if self.decided_at else self.fhir_id


class BulkExport(models.Model):
    """A FHIR Bulk Data export ($export): who asked, for which patients and types, and the NDJSON files it wrote.

    The files live under DATA_DIR/exports/<id>/, one per resource type; only the requester downloads them, while
    they still may read the charts they cover (clinic.fhir.bulk)."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=10, default="patient")  # patient | group | system
    group = models.CharField(max_length=64, blank=True, help_text="the Group (saved cohort) of Group/{id}/$export")
    request_url = models.CharField(max_length=2000)
    types = models.JSONField(default=list)
    since = models.DateTimeField(null=True, blank=True)
    patient_ids = models.JSONField(null=True, blank=True, help_text="the patients exported; empty: every patient")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    output = models.JSONField(default=list, blank=True)  # [{type, file, count, patients}]
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"$export {self.pk} ({self.status})"
