"""Stewards manage the rules in the admin: parameters checked on save, a rule tried on the cohort before it goes live."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib import admin
from django.test import Client

from cds.models import CardDecision, Rule, RuleFiring
from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import user_with_roles
from tests.cds.factory import bundle, dumps, rosa_resources

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward_client(steward) -> Client:
    client = Client()
    client.force_login(steward)
    return client


def _form(rule: Rule, **changes: object) -> dict[str, object]:
    data = {
        "name": rule.name, "key": rule.key, "kind": rule.kind, "enabled": "on" if rule.enabled else "",
        "indicator": rule.indicator, "summary": rule.summary, "detail": rule.detail, "suggestion": rule.suggestion,
        "parameters": json.dumps(rule.parameters), "knowledge_doc_id": rule.knowledge_doc_id,
        "reference": rule.reference, "reference_url": rule.reference_url,
    }  # fmt: skip
    return {k: v for k, v in (data | changes).items() if v != ""}


def _cohort(count: int) -> list[m.Patient]:
    for _ in range(count):
        fhir_import_bytes(name="rosa.json", data=dumps(bundle(rosa_resources(str(uuid.uuid4())))))
    return list(m.Patient.objects.all())


def test_a_steward_changes_a_rules_threshold(steward_client, steward):
    rule = Rule.objects.get(key="diabetes-hba1c-above-target")
    parameters = {**rule.parameters, "above": 9.0}

    response = steward_client.post(f"/admin/cds/rule/{rule.pk}/change/", _form(rule, parameters=json.dumps(parameters)))

    rule.refresh_from_db()
    assert response.status_code == 302 and rule.parameters["above"] == 9.0 and rule.updated_by == steward


def test_it_names_the_field_of_bad_parameters_in_the_form(steward_client):
    rule = Rule.objects.get(key="diabetes-hba1c-above-target")
    parameters = {**rule.parameters, "above": "high"}

    response = steward_client.post(f"/admin/cds/rule/{rule.pk}/change/", _form(rule, parameters=json.dumps(parameters)))

    assert response.status_code == 200 and "parameters.above: Input should be a valid number" in response.content.decode()
    rule.refresh_from_db()
    assert rule.parameters["above"] == 8.0


def test_it_refuses_a_summary_placeholder_the_kind_does_not_fill(steward_client):
    rule = Rule.objects.get(key="ckd-nsaid")

    response = steward_client.post(f"/admin/cds/rule/{rule.pk}/change/", _form(rule, summary="{value} too high"))

    assert response.status_code == 200 and "unknown placeholder(s) value" in response.content.decode()


def test_a_steward_tries_a_new_rule_on_the_cohort_before_it_goes_live(steward_client, steward):
    _cohort(6)
    data = _form(Rule.objects.get(key="pneumococcal-vaccine-due"), key="pneumococcal-at-60", name="Pneumococcal at 60")
    data["parameters"] = json.dumps({"vaccine": {"codes": ["33", "133"]}, "min_age": 60})
    data.pop("enabled")
    assert steward_client.post("/admin/cds/rule/add/", data).status_code == 302
    rule = Rule.objects.get(key="pneumococcal-at-60")
    assert not rule.enabled

    page = steward_client.get(f"/admin/cds/rule/{rule.pk}/trial/").content.decode()

    assert "Would fire for 6 patients" in page and "No firing was recorded" in page
    assert "Rosa Diaz" not in page  # a steward counts; identities are for those who read the charts
    assert not RuleFiring.objects.exists()
    row = m.AuditEvent.objects.get(action="cds.trial")
    assert (row.username, row.target, row.detail["fired"], row.patients) == ("steward", "rule:pneumococcal-at-60", 6, [])


def test_a_trial_lists_patients_for_a_reader_of_every_chart(superuser):
    patients = _cohort(2)
    client = Client()
    client.force_login(superuser)

    page = client.get(f"/admin/cds/rule/{Rule.objects.get(key='creatinine-rising').pk}/trial/").content.decode()

    assert "Would fire for 2 patients" in page and page.count("Rosa Diaz") == 2
    assert sorted(m.AuditEvent.objects.get(action="cds.trial").patients) == sorted(p.pk for p in patients)


def test_it_withholds_a_count_below_the_smallest_one_shown(steward_client):
    _cohort(2)

    page = steward_client.get(f"/admin/cds/rule/{Rule.objects.get(key='creatinine-rising').pk}/trial/").content.decode()

    assert "Would fire for fewer than 5 patients" in page


def test_the_try_action_counts_each_selected_rule(steward_client):
    _cohort(5)
    rules = Rule.objects.filter(key__in=["creatinine-rising", "ckd-nsaid"])
    data = {"action": "try_on_cohort", admin.helpers.ACTION_CHECKBOX_NAME: [r.pk for r in rules]}

    response = steward_client.post("/admin/cds/rule/", data, follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert "Rising creatinine: would fire for 5 patient(s) of 5 charts read" in shown
    assert "CKD and an NSAID: would fire for 0 patient(s) of 5 charts read" in shown


def test_firings_and_decisions_are_not_for_stewards(steward_client, db):
    assert steward_client.get("/admin/cds/rulefiring/").status_code == 403
    assert steward_client.get("/admin/cds/carddecision/").status_code == 403


def test_a_researcher_may_not_try_rules(db):
    client = Client()
    client.force_login(user_with_roles("rita", "researcher", is_staff=True))

    assert client.get(f"/admin/cds/rule/{Rule.objects.first().pk}/trial/").status_code == 403


def test_a_superuser_opens_every_decision_support_table(superuser, clinician):
    patient = _cohort(1)[0]
    rule = Rule.objects.get(key="pneumococcal-vaccine-due")
    firing = RuleFiring.objects.create(rule=rule, patient=patient, hook="patient-view", fingerprint="f", indicator="info", summary="due", citations=[{"source_type": "patient"}])  # fmt: skip
    decision = CardDecision.objects.create(firing=firing, rule=rule, patient=patient, fingerprint="f", outcome="dismissed", reason="other", user=clinician)  # fmt: skip
    client = Client()
    client.force_login(superuser)

    for name, row in (("rule", rule), ("rulefiring", firing), ("carddecision", decision)):
        assert client.get(f"/admin/cds/{name}/", {"q": "a"}).status_code == 200, name
        assert client.get(f"/admin/cds/{name}/{row.pk}/change/").status_code == 200, name
    assert m.AuditEvent.objects.filter(action="admin.view", patient=patient).count() == 2  # the firing and the decision
