"""De-identification of clinical text and records (HIPAA Safe Harbor style): one engine for dataset curation,
researcher views, exports marked de-identified and `manage.py deidentify`. See docs/deid.md."""

from __future__ import annotations

from clinic.deid.engine import AGE_SURROGATE, Deidentifier, Span, age_band
from clinic.deid.secret import deid_secret, deidentifier_for

__all__ = ["AGE_SURROGATE", "Deidentifier", "Span", "age_band", "deid_secret", "deidentifier_for"]
