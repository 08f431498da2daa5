"""The generative backends' tool loop: the model calls tools, the answer cites the rows those tools read, and
a model that only emits noise still ends with the planner's cited facts."""

from __future__ import annotations

import threading
import time

import pytest

from agents import agent, llm
from clinic import models as m
from tests.agents.fake_openai import tool_call

QUESTION = "What is the most recent Hemoglobin A1c?"


def test_it_runs_the_tool_the_model_calls_and_cites_its_rows(ada, openai_backend):
    openai_backend.script = [
        tool_call("allergies"),
        {"role": "assistant", "content": "The latest HbA1c is 6.7 % [1]. Ada is allergic to Penicillin [2]. She likes tea."},
    ]
    answer = llm.answer(patient=ada, question=QUESTION)
    allergy = m.AllergyIntolerance.objects.get(patient=ada)
    assert answer["tool_calls"] == [{"name": "allergies", "input": "", "facts": 1, "sources": [f"allergy:{allergy.pk}"]}]
    assert "allergies" in answer["tools"]
    assert answer["answer"] == "The latest HbA1c is 6.7 %. Ada is allergic to Penicillin."
    assert answer["sentences"][0]["citations"][0]["source_type"] == "observation"
    assert [(c["source_type"], c["source_id"]) for c in answer["sentences"][1]["citations"]] == [("allergy", allergy.pk)]
    assert answer["dropped_uncited"] == 1


def test_it_speaks_openai_tools_and_tool_calls_on_the_wire(ada, openai_backend):
    openai_backend.script = [tool_call("allergies", call_id="call_7")]
    llm.answer(patient=ada, question=QUESTION)
    first, second = openai_backend.requests[:2]
    assert "allergies" in {t["function"]["name"] for t in first["tools"]}
    assert second["messages"][2]["tool_calls"][0] == {
        "id": "call_7",
        "type": "function",
        "function": {"name": "allergies", "arguments": "{}"},
    }
    assert second["messages"][3]["role"] == "tool" and second["messages"][3]["tool_call_id"] == "call_7"
    assert second["messages"][3]["content"].startswith("[2] Allergy to Penicillin")


def test_it_follows_react_text_actions_with_an_input(ada, openai_backend):
    openai_backend.script = [
        {
            "role": "assistant",
            "content": "Thought: I need the trend.\nAction: lab_trend\nAction Input: a1c\nObservation: made up",
        },
        {"role": "assistant", "content": "Final Answer: HbA1c went from 5.9 to 6.7 % [2]."},
    ]
    answer = llm.answer(patient=ada, question=QUESTION)
    assert answer["tool_calls"][0]["name"] == "lab_trend" and answer["tool_calls"][0]["input"] == "a1c"
    assert answer["answer"] == "HbA1c went from 5.9 to 6.7 %."
    assert all(c["source_type"] == "observation" for c in answer["sentences"][0]["citations"])
    observation = openai_backend.requests[1]["messages"][-1]
    assert observation["role"] == "user" and observation["content"].startswith("Observation:\n[2] Hemoglobin A1c over")
    assert "made up" not in openai_backend.requests[1]["messages"][-2]["content"]


def test_it_stops_a_model_that_never_stops_calling_tools(ada, openai_backend):
    openai_backend.sse = False  # a server that answers streamed requests in one piece
    openai_backend.script = [{"role": "assistant", "content": "Action: crystal_ball"}] * agent.MAX_STEPS
    answer = llm.answer(patient=ada, question=QUESTION)
    assert len(openai_backend.requests) == agent.MAX_STEPS + 1  # the last one asks for the answer, without tools
    assert [c.get("error") for c in answer["tool_calls"]] == ["unknown tool"] * agent.MAX_STEPS
    assert answer["answer"] == "The latest HbA1c is 6.7 %."


def test_it_falls_back_to_the_planner_when_the_model_cites_nothing(ada, openai_backend):
    openai_backend.script = [
        tool_call("lab_trend", "a1c please"),
        tool_call("lab_trend", '{"name": 42}'),
        {"role": "assistant", "content": "All is well."},
    ]
    answer = llm.answer(patient=ada, question=QUESTION)
    assert answer["fallback"].startswith("extractive")
    assert [c["error"].split(":")[0] for c in answer["tool_calls"]] == ["arguments are not JSON", "ValidationError"]
    assert answer["sentences"] and all(s["citations"] for s in answer["sentences"])


def test_it_retries_a_server_that_is_not_ready_yet(ada, openai_backend):
    openai_backend.failures = 2  # the openai client's own retries (llm.MAX_RETRIES), with backoff
    answer = llm.answer(patient=ada, question=QUESTION)
    assert answer["answer"] == "The latest HbA1c is 6.7 %."
    assert len(openai_backend.requests) == 3 and openai_backend.requests[0] == openai_backend.requests[2]


def test_it_says_a_retry_can_help_when_the_server_keeps_failing(ada, openai_backend):
    openai_backend.failures = llm.MAX_RETRIES + 1
    with pytest.raises(llm.BackendError, match="LLM server at http://127.0.0.1") as failed:
        llm.answer(patient=ada, question=QUESTION)
    assert failed.value.retryable and len(openai_backend.requests) == llm.MAX_RETRIES + 1


def test_it_gives_up_on_a_server_that_does_not_answer_in_time(ada, openai_backend, monkeypatch):
    monkeypatch.setattr(llm, "TIMEOUT", 0.5)
    monkeypatch.setattr(llm, "MAX_RETRIES", 0)
    openai_backend.hold = threading.Event()  # the reply stops halfway until released
    started = time.monotonic()
    with pytest.raises(llm.BackendError) as failed:
        llm.answer(patient=ada, question=QUESTION)
    assert failed.value.retryable and time.monotonic() - started < 10
