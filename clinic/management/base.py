"""Base class of the management commands that load data in bulk (import_fhir, import_dicom, import_knowledge…)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError


class BulkLoadCommand(BaseCommand):
    """A command that skips Django's system checks.

    Those checks import every URL module (the REST API, LangChain): seconds of start-up that a script running many
    imports pays each time. `manage.py check` and the server still run them.
    """

    requires_system_checks: list[str] = []

    def execute(self, *args: Any, **options: Any) -> Any:
        """A database that goes away mid-load is a clear error and a non-zero exit, not a traceback: each file or
        bundle is one transaction, so the one being written is rolled back, and the same command run again
        completes the load (what is already stored is left unchanged)."""
        try:
            return super().execute(*args, **options)
        except (OperationalError, InterfaceError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CommandError(
                f"the database stopped answering ({reason}). The file being written was rolled back; files reported "
                "before it are stored. Run the same command again once the database is back: it completes the load."
            ) from e
