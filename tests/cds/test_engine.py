"""The rule engine on a chart read from the database: which starter rules fire, on which records, and why not."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cds import engine, parameters
from cds.chart import chart_from_database
from cds.models import Rule
from cds.selectors import findings_for
from clinic import models as m

pytestmark = pytest.mark.django_db


def _fired(patient: m.Patient, as_of: dt.datetime | None = None) -> dict[str, engine.Finding]:
    findings = findings_for(chart=chart_from_database(patient=patient), as_of=as_of or timezone.now())
    return {f.rule.key: f for f in findings}


def test_it_fires_the_starter_rules_that_rosas_chart_calls_for(rosa):
    fired = _fired(rosa)

    assert set(fired) == {"diabetes-hba1c-above-target", "creatinine-rising", "pneumococcal-vaccine-due", "tetanus-booster-due"}
    hba1c = m.Observation.objects.get(patient=rosa, code="4548-4")
    above = fired["diabetes-hba1c-above-target"]
    assert above.summary == f"HbA1c 8.7 % on {hba1c.effective.date()}: above the 8 % target"
    assert {(c["source_type"], c["source_id"]) for c in above.citations} == {
        ("condition", m.Condition.objects.get(patient=rosa, code="44054006").pk),
        ("observation", hba1c.pk),
    }
    assert all(c["reference"].startswith(("Condition/", "Observation/")) for c in above.citations)
    rising = fired["creatinine-rising"]
    assert "1.2 to 1.6 mg/dL (+0.4)" in rising.summary
    assert len([c for c in rising.citations if c["source_type"] == "observation"]) == 2


def test_it_finds_the_hba1c_overdue_once_six_months_have_passed(rosa):
    later = timezone.now() + dt.timedelta(days=200)

    fired = _fired(rosa, as_of=later)

    assert "diabetes-hba1c-overdue" in fired
    assert fired["diabetes-hba1c-overdue"].summary.startswith("HbA1c overdue: none in the last 6 months (last 8.7 % on ")


def test_it_sees_nothing_dated_after_the_moment_it_judges(rosa):
    before_the_labs = timezone.now() - dt.timedelta(days=500)

    assert "creatinine-rising" not in _fired(rosa, as_of=before_the_labs)


def test_it_cites_the_patient_for_rules_on_age(rosa):
    pneumo = _fired(rosa)["pneumococcal-vaccine-due"]

    assert pneumo.citations == [
        {
            "source_type": "patient",
            "source_id": rosa.pk,
            "reference": f"Patient/{rosa.fhir_id}",
            "label": "Patient, 68 years old, female",
        }
    ]


def test_it_keeps_the_fingerprint_until_the_records_change(rosa):
    first = _fired(rosa)["diabetes-hba1c-above-target"].fingerprint
    assert _fired(rosa)["diabetes-hba1c-above-target"].fingerprint == first
    obs = m.Observation.objects.get(patient=rosa, code="4548-4")
    m.Observation.objects.create(
        patient=rosa, fhir_id="a1c-new", code="4548-4", display=obs.display, value=9.1, unit="%", effective=timezone.now()
    )

    assert _fired(rosa)["diabetes-hba1c-above-target"].fingerprint != first


def test_it_skips_disabled_rules_and_deceased_patients(rosa):
    Rule.objects.filter(key="creatinine-rising").update(enabled=False)
    assert "creatinine-rising" not in _fired(rosa)

    rosa.deceased_at = timezone.now() - dt.timedelta(days=1)
    rosa.save()

    assert _fired(rosa) == {}


def test_it_matches_codes_prefixes_and_whole_word_synonyms():
    codes = parameters.CodeSet(codes=["http://snomed.info/sct|44054006", "E11*"], synonyms=["diabetes mellitus"])

    assert codes.matches("http://snomed.info/sct", "44054006", "")
    assert not codes.matches("http://other", "44054006", "")
    assert codes.matches("http://hl7.org/fhir/sid/icd-10-cm", "E11.9", "")
    assert codes.matches("", "", "Type 2 Diabetes Mellitus without complications")
    assert not parameters.CodeSet(synonyms=["diabetes"]).matches("", "", "Prediabetes (finding)")


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("care_gap", {"condition": {"codes": ["1"]}, "expect": {"codes": ["2"]}}, "parameters.window_days: Field required"),
        (
            "care_gap",
            {"condition": {}, "expect": {"codes": ["2"]}, "window_days": 1},
            "parameters.condition: Value error, give at least one code or synonym",
        ),
        ("lab_threshold", {"lab": {"codes": ["4548-4"]}}, "parameters: Value error, give 'above' or 'below'"),
        (
            "lab_trend",
            {"lab": {"codes": ["1"]}, "window_days": 30, "min_ratio": 0.5},
            "parameters.min_ratio: Input should be greater than 1",
        ),
        (
            "immunization_due",
            {"vaccine": {"codes": ["140"]}, "sex": "other"},
            "parameters.sex: Input should be '', 'female' or 'male'",
        ),
        (
            "condition_medication",
            {"condition": {"codes": ["1"]}, "medication": {"codes": ["2"]}, "colour": "red"},
            "parameters.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_it_names_the_field_of_bad_parameters(kind, params, message):
    with pytest.raises(ValueError) as error:
        parameters.parse(kind, params)

    assert message in str(error.value)


def test_it_refuses_a_summary_with_a_placeholder_its_kind_does_not_fill():
    problems = parameters.rule_problems(
        kind="care_gap",
        parameters={"condition": {"codes": ["1"]}, "expect": {"codes": ["2"]}, "window_days": 30},
        summary="{drug} overdue",
        detail="",
    )

    assert problems and problems[0][0] == "summary" and "unknown placeholder(s) drug" in problems[0][1]


def test_every_starter_rule_parses_and_fits_its_kind():
    rules = list(Rule.objects.all())

    assert len(rules) == 10 and all(r.enabled for r in rules)
    for rule in rules:
        assert (
            parameters.rule_problems(kind=rule.kind, parameters=rule.parameters, summary=rule.summary, detail=rule.detail) == []
        )


@pytest.mark.parametrize("summary", ["{value.real} high", "{value!r} high", "{value:>9} high", "{value[0]} high"])
def test_it_refuses_placeholders_that_are_more_than_a_name(summary):
    problems = parameters.rule_problems(
        kind="lab_threshold", parameters={"lab": {"codes": ["4548-4"]}, "above": 8}, summary=summary, detail=""
    )

    assert problems and problems[0][0] == "summary" and "is not a plain {name}" in problems[0][1]


def test_a_broken_rule_is_skipped_and_the_others_still_fire(rosa):
    Rule.objects.filter(key="creatinine-rising").update(parameters={"lab": "creatinine"})  # edited outside the admin

    fired = _fired(rosa)

    assert "creatinine-rising" not in fired and "diabetes-hba1c-above-target" in fired
