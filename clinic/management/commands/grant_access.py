"""python manage.py grant_access USERNAME PATIENT_FHIR_ID [--days N] — put a clinician on a patient's care team."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.models import Patient
from clinic.services import care_team_grant


class Command(BaseCommand):
    help = "Put a clinician on a patient's care team (open-ended, or for --days); re-granting extends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("patient", help="the patient's FHIR id")
        parser.add_argument("--days", type=int, help="the assignment ends after this many days (default: until removed)")
        parser.add_argument("--role", default="", help="attending, resident, nurse, consultant…")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}; create one with create_user")
        patient = Patient.objects.filter(fhir_id=options["patient"]).first()
        if patient is None:
            raise CommandError(f"no patient with FHIR id {options['patient']!r}")
        try:
            member = care_team_grant(user=user, patient=patient, days=options["days"], role=options["role"])
        except InvalidInput as e:
            raise CommandError(str(e)) from None
        until = f" until {member.ends_at:%Y-%m-%d %H:%M}" if member.ends_at else ""
        self.stdout.write(f"{user.username} is on the care team of {patient.fhir_id}{until}")
