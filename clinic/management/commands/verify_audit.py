"""python manage.py verify_audit — walk the audit trail's hash chain; exit 1 naming the rows that were changed or removed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from clinic.audit import audit_chain_problems
from clinic.models import AuditEvent


class Command(BaseCommand):
    help = "Check the audit trail's hash chain: an edited row or a gap is reported (and the command fails)."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, problems = audit_chain_problems()
        if problems:
            raise CommandError(f"audit trail broken ({checked} rows checked):\n" + "\n".join(problems))
        last = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
        anchor = f"; last row {last[0]}, hash {last[1]} (keep it elsewhere to detect a cut-off tail)" if last else ""
        self.stdout.write(f"audit trail intact: {checked} rows{anchor}")
