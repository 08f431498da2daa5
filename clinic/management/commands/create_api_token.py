"""python manage.py create_api_token USERNAME [--scopes user/*.read,...] [--days N] — prints a new bearer token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.models import Patient
from clinic.services import api_token_create


class Command(BaseCommand):
    help = "Create a REST API bearer token for a user and print it once (the database keeps only its hash)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument(
            "--scopes",
            help="SMART on FHIR scopes, comma- or space-separated: user/*.read, user/*.write, system/*.read, "
            "system/*.write, patient/*.read, user/Observation.read … (default: what the user's roles allow)",
        )
        parser.add_argument("--days", type=int, help="the token expires after this many days (default: never)")
        parser.add_argument("--patient", help="FHIR id of the one patient of patient/ scopes")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {options['username']!r}; create one with create_user") from None
        patient = None
        if options["patient"]:
            patient = Patient.objects.filter(fhir_id=options["patient"]).first()
            if patient is None:
                raise CommandError(f"--patient: no patient with FHIR id {options['patient']!r}")
        try:
            raw = api_token_create(
                user=user, name=options["name"], scopes=options["scopes"], days=options["days"], patient=patient
            )
        except (InvalidInput, ValueError) as e:
            raise CommandError(str(e)) from None
        self.stdout.write(raw)
