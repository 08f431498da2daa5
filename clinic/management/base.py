"""Base class of the management commands that load data in bulk (import_fhir, import_dicom, import_knowledge…)."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class BulkLoadCommand(BaseCommand):
    """A command that skips Django's system checks.

    Those checks import every URL module (the REST API, LangChain): seconds of start-up that a script running many
    imports pays each time. `manage.py check` and the server still run them.
    """

    requires_system_checks: list[str] = []
