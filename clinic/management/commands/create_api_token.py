"""python manage.py create_api_token USERNAME — prints a new bearer token (stored hashed)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.services import api_token_create


class Command(BaseCommand):
    help = "Create a REST API bearer token for a user and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {options['username']!r}; create one with createsuperuser") from None
        self.stdout.write(api_token_create(user=user, name=options["name"]))
