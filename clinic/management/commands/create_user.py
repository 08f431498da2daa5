"""python manage.py create_user USERNAME --role clinician|steward|researcher|integration --password PW"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.access import ROLES
from clinic.errors import InvalidInput
from clinic.services import user_save


class Command(BaseCommand):
    help = "Create a user with a role, or give an existing user this role (and password) instead of their old ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}; several comma-separated")
        parser.add_argument("--password", help="at least 12 characters, not a common one (default: no password: token use only)")

    def handle(self, *args: Any, **options: Any) -> None:
        roles = [r.strip() for r in options["role"].split(",") if r.strip()]
        try:
            user = user_save(username=options["username"], roles=roles, password=options["password"])
        except InvalidInput as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"{user.username}: {', '.join(sorted(roles))}")
