"""Tools return the right rows, each fact with the ids of its source rows."""

from __future__ import annotations

from agents import tools
from clinic import models as m


def test_it_lists_active_problems_with_their_condition_ids(ada):
    facts = tools.problem_list(patient=ada)
    condition = m.Condition.objects.get(patient=ada)
    assert [f.citations[0]["source_id"] for f in facts] == [condition.pk]
    assert facts[0].citations[0]["source_type"] == "condition"
    assert "Hypertension" in facts[0].text


def test_it_lists_active_medications_and_allergies(ada):
    meds = tools.medication_list(patient=ada)
    allergies = tools.allergy_list(patient=ada)
    assert meds[0].citations[0]["source_id"] == m.MedicationRequest.objects.get(patient=ada).pk
    assert "lisinopril" in meds[0].text
    assert allergies[0].citations[0]["source_type"] == "allergy"
    assert "Penicillin" in allergies[0].text


def test_it_finds_the_latest_lab_value_and_its_observation(ada):
    names = tools.observation_names(patient=ada)
    facts = tools.lab_latest(patient=ada, code=names["Hemoglobin A1c"], display="Hemoglobin A1c")
    latest = m.Observation.objects.filter(patient=ada).order_by("-effective").first()
    assert "6.7 %" in facts[0].text
    assert facts[0].citations[0]["source_id"] == latest.pk


def test_it_strips_semantic_tags_and_formats_values_as_stored():
    assert tools.clean("Prediabetes (finding)") == "Prediabetes"
    assert tools.clean("Allergy to mould (substance)") == "Allergy to mould"
    assert [tools.number(v) for v in (5.6, 120.0, 7.25, 1.2999)] == ["5.6", "120.0", "7.25", "1.30"]


def test_it_returns_nothing_from_chart_search_when_search_fails(ada, monkeypatch):
    import search.selectors

    def broken(**kwargs):
        raise RuntimeError("index offline")

    monkeypatch.setattr(search.selectors, "search_chunks", broken, raising=False)
    assert tools.chart_search(patient=ada, query="cough") == []


def test_it_offers_the_same_tools_to_langchain_with_their_citations(ada):
    by_name = {t.name: t for t in tools.langchain_tools(patient=ada)}
    condition = m.Condition.objects.get(patient=ada)
    assert f"condition:{condition.pk}" in by_name["problem_list"].invoke({})
    assert "6.7" in by_name["lab_trend"].invoke({"name": "a1c"})
