"""Test helpers for access rules: users with roles, and care-team assignments (as grant_access makes them)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from clinic import models as m


def user_with_roles(username: str, *roles: str, **fields: Any) -> Any:
    user = get_user_model().objects.create_user(username, password=fields.pop("password", f"{username}-pw-Aa1!"), **fields)
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


def on_care_team(user: Any, *patients: m.Patient) -> None:
    """Put `user` on each patient's care team (an explicit, open-ended assignment)."""
    for patient in patients:
        m.CareTeamMember.objects.create(user=user, patient=patient, role="attending")
