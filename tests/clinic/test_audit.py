"""The audit trail: append-only in PostgreSQL, hash-chained so a changed or missing row is evident, and kept whole
when users or patients are deleted."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from clinic import models as m
from clinic.access import Actor
from clinic.audit import Action, audit, audit_chain_problems
from tests.access import user_with_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(db) -> list[m.AuditEvent]:
    alice = user_with_roles("alice", "clinician")
    actor = Actor(user=alice, channel="web")
    return [audit(actor=actor, action=Action.TIMELINE_VIEW, patient=None, target=f"read {i}", detail={"i": i}) for i in range(5)]


def _without_protection(sql: str, params: list[object]) -> None:
    """What a database superuser could do behind the application's back: switch the trigger off, then write."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE clinic_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE clinic_auditevent ENABLE TRIGGER USER")


def test_it_refuses_to_update_or_delete_audit_rows(trail):
    for statement in ("UPDATE clinic_auditevent SET action = 'rewritten'", "DELETE FROM clinic_auditevent"):
        with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
            connection.cursor().execute(statement)
    with pytest.raises(DatabaseError), transaction.atomic():
        m.AuditEvent.objects.filter(pk=trail[0].pk).update(target="nothing happened")
    assert m.AuditEvent.objects.get(pk=trail[0].pk).target == "read 0"


def test_it_chains_each_row_to_the_one_before(trail):
    rows = list(m.AuditEvent.objects.order_by("id"))
    assert rows[0].prev_hash == "" and all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert len({r.hash for r in rows}) == 5
    call_command("verify_audit")


def test_it_finds_a_row_changed_behind_the_trigger(trail):
    _without_protection("UPDATE clinic_auditevent SET target = 'innocent' WHERE id = %s", [trail[2].pk])
    checked, problems = audit_chain_problems()
    assert checked == 5 and problems == [f"row {trail[2].pk}: its hash does not match its contents (it was changed)"]
    with pytest.raises(CommandError, match="audit trail broken"):
        call_command("verify_audit")


def test_it_finds_a_row_removed_behind_the_trigger(trail):
    _without_protection("DELETE FROM clinic_auditevent WHERE id = %s", [trail[3].pk])
    _, problems = audit_chain_problems()
    assert problems == [f"row {trail[4].pk}: its prev_hash does not match the row before it (a row is missing)"]


def test_it_keeps_the_trail_of_a_deleted_user_and_patient(trail):
    patient = m.Patient.objects.create(fhir_id="p-1", name="Gone Soon")
    audit(actor=Actor(user=trail[0].user, channel="api"), action=Action.PATIENT_VIEW, patient=patient)
    user_id, patient_id = trail[0].user_id, patient.pk
    trail[0].user.delete()
    patient.delete()
    row = m.AuditEvent.objects.get(action="view.patient")
    assert (row.username, row.user_id, row.patient_id) == ("alice", user_id, patient_id)
    assert m.AuditEvent.objects.filter(username="alice").count() == 6
    call_command("verify_audit")


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_chain_when_many_requests_write_at_once():
    def write(n: int) -> None:
        try:
            for i in range(25):
                with transaction.atomic():
                    audit(actor=Actor.system(), action=Action.SEARCH, target=f"thread {n} row {i}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked, problems = audit_chain_problems()
    assert (checked, problems) == (100, [])
