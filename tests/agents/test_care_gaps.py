"""The assistant uses the decision support rules: care gaps and alerts as cited facts, through the same cards."""

from __future__ import annotations

import uuid

import pytest

from agents import tools
from agents.services import question_ask
from cds.models import RuleFiring
from clinic import models as m
from clinic.access import Actor
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.cds.factory import bundle, dumps, rosa_resources


@pytest.fixture
def rosa(clinician) -> m.Patient:
    fhir_import_bytes(name="rosa.json", data=dumps(bundle(rosa_resources(str(uuid.uuid4())))))
    patient = m.Patient.objects.get()
    on_care_team(clinician, patient)
    return patient


def test_the_tool_gives_each_card_with_the_records_it_rests_on(rosa):
    facts = {f.text.split(":")[0]: f for f in tools.care_gaps(patient=rosa)}

    hba1c = m.Observation.objects.get(patient=rosa, code="4548-4")
    assert {"Creatinine rising", "Pneumococcal vaccine due", "Td/Tdap booster due"} <= set(facts)
    above = next(f for f in facts.values() if f.text.startswith("HbA1c 8.7 %"))
    assert {"source_type": "observation", "source_id": hba1c.pk, "label": above.citations[1]["label"]} in above.citations
    assert RuleFiring.objects.filter(patient=rosa, hook="assistant", channel="assistant").count() == len(facts)


def test_the_extractive_assistant_routes_care_gap_questions_to_the_rules(rosa, clinician):
    answer = question_ask(
        actor=Actor(user=clinician, channel="web"), patient=rosa, question="What care gaps does this patient have?"
    )

    assert answer["tools"] == ["_care_gaps"]
    texts = [s["text"] for s in answer["sentences"]]
    assert any(t.startswith("Creatinine rising: 1.2 to 1.6 mg/dL") for t in texts)
    creatinine = set(m.Observation.objects.filter(patient=rosa, code="2160-0").values_list("pk", flat=True))
    rising = next(s for s in answer["sentences"] if s["text"].startswith("Creatinine rising"))
    assert {c["source_id"] for c in rising["citations"]} == creatinine
    audit = m.AuditEvent.objects.get(action="ask", patient=rosa)
    assert {f"observation:{pk}" for pk in creatinine} <= set(audit.detail["cited"])


def test_it_says_so_when_no_rule_fires(clinician):
    nobody = m.Patient.objects.create(fhir_id="nobody", name="Nobody Charted")

    assert [f.text for f in tools.care_gaps(patient=nobody)] == [
        "The decision support rules find no care gap or alert in this chart."
    ]


def test_the_generative_backends_get_the_same_tool(rosa):
    by_name = {t.name: t for t in tools.langchain_tools(patient=rosa)}

    assert "Creatinine rising" in by_name["care_gaps"].invoke({})
