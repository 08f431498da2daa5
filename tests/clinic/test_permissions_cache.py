"""Each user's permissions are read once per PERMISSION_CACHE_SECONDS per process, and a change of role in this
process is seen at once (clinic.permissions)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.permissions import forget_permissions
from tests.access import user_with_roles

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as a new request loads it (no permissions cached on the object)."""
    return get_user_model().objects.get(pk=user.pk)


def test_a_second_request_reads_no_permissions(settings):
    settings.PERMISSION_CACHE_SECONDS = 60
    forget_permissions()
    user = user_with_roles("cached", "clinician")
    assert fresh(user).has_perm("clinic.read_chart")
    again = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        assert again.has_perm("clinic.read_chart") and not again.has_perm("clinic.import_data")
    assert len(queries) == 0


def test_a_role_taken_away_is_seen_at_once(settings):
    settings.PERMISSION_CACHE_SECONDS = 60
    user = user_with_roles("revoked", "clinician")
    assert fresh(user).has_perm("clinic.read_chart")
    user.groups.remove(Group.objects.get(name="clinician"))
    assert not fresh(user).has_perm("clinic.read_chart")
    user.groups.add(Group.objects.get(name="researcher"))
    assert not fresh(user).has_perm("clinic.read_chart")


def _revoke_elsewhere(user) -> None:
    """Another process takes the role away: the row goes, and no signal reaches this process."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_user_groups WHERE user_id = %s", [user.pk])


def test_another_process_s_change_arrives_when_the_remembered_set_expires(settings):
    settings.PERMISSION_CACHE_SECONDS = 60
    kept = user_with_roles("kept", "clinician")
    assert fresh(kept).has_perm("clinic.read_chart")
    _revoke_elsewhere(kept)
    assert fresh(kept).has_perm("clinic.read_chart")  # still remembered: the documented bound
    settings.PERMISSION_CACHE_SECONDS = 0
    expiring = user_with_roles("expiring", "clinician")
    assert fresh(expiring).has_perm("clinic.read_chart")
    _revoke_elsewhere(expiring)
    assert not fresh(expiring).has_perm("clinic.read_chart")


def test_an_inactive_user_has_no_permission_even_when_remembered(settings):
    settings.PERMISSION_CACHE_SECONDS = 60
    user = user_with_roles("leaver", "clinician")
    assert fresh(user).has_perm("clinic.read_chart")
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no signal: an UPDATE from elsewhere
    assert not fresh(user).has_perm("clinic.read_chart")
