"""The generative backends end to end: a tiny random local model (real loading and generation; the text is
noise) and an OpenAI-compatible server started by the test."""

from __future__ import annotations

import pytest

from agents import llm, services
from agents.models import AssistantExchange, Draft
from clinic.access import Actor
from clinic.models import AuditEvent
from tests.agents.fake_openai import FakeOpenAI


@pytest.fixture
def tiny_model_dir(tmp_path_factory):
    """A 1-layer GPT-2 with a word-level tokenizer trained here: no downloads."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-lm")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["The most recent Hemoglobin A1c is 6.7 % [1].", "Active problems include Hypertension [2].", "no record found"]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    fast.save_pretrained(path)
    config = GPT2Config(vocab_size=fast.vocab_size, n_positions=2048, n_embd=16, n_layer=1, n_head=2)
    config.bos_token_id = config.eos_token_id = fast.eos_token_id
    torch.manual_seed(5)  # noise, but the same noise every run
    GPT2LMHeadModel(config).save_pretrained(path)
    llm.load_local_model.cache_clear()
    return path


def ask_on_queue(patient, question, capture):
    """Generative backends answer on the llm queue: the API hands back a poll URL, the job fills the answer."""
    clinician = patient.care_team.get().user
    with capture(execute=True):
        queued = services.question_ask(actor=Actor(user=clinician, channel="api"), patient=patient, question=question)
    assert queued["status"] == "pending" and queued["poll_url"] == f"/api/v1/asks/{queued['id']}"
    return AssistantExchange.objects.get(pk=queued["id"]).as_answer()


def test_it_answers_and_drafts_with_a_local_transformers_model(
    ada, settings, tiny_model_dir, eager_jobs, django_capture_on_commit_callbacks
):
    settings.LLM_BACKEND, settings.LLM_MODEL = "transformers", str(tiny_model_dir)
    answer = ask_on_queue(ada, "What is the most recent Hemoglobin A1c?", django_capture_on_commit_callbacks)
    assert answer["status"] == "ready"
    assert answer["backend"] == "transformers"
    assert answer["sentences"] and all(s["citations"] for s in answer["sentences"])  # noise cites nothing: the facts stand
    draft = Draft.objects.create(patient=ada, kind="progress_note")
    services.draft_generate(draft_id=draft.pk)
    draft.refresh_from_db()
    assert draft.status == "ready" and draft.backend == "transformers" and draft.model_name == str(tiny_model_dir)


def test_it_streams_a_local_model_through_a_text_iterator_streamer(tiny_model_dir):
    from langchain_core.messages import HumanMessage

    chat = llm.TransformersChat(model_dir=str(tiny_model_dir), max_new_tokens=12)
    prompt = [HumanMessage("Facts: [1] Hypertension is an active problem.")]
    pieces = [str(chunk.content) for chunk in chat.stream(prompt)]
    assert len(pieces) > 1  # word by word, from the generation thread
    assert "".join(pieces) == chat.invoke(prompt).content


def test_it_answers_through_an_openai_compatible_server_keeping_only_cited_sentences(
    ada, settings, openai_server, eager_jobs, django_capture_on_commit_callbacks
):
    settings.LLM_BACKEND, settings.LLM_BASE_URL, settings.LLM_MODEL = "openai", openai_server, "served-model"
    answer = ask_on_queue(ada, "What is the most recent Hemoglobin A1c?", django_capture_on_commit_callbacks)
    assert answer["answer"] == "The latest HbA1c is 6.7 %."
    assert answer["sentences"][0]["citations"][0]["source_type"] == "observation"
    assert answer["dropped_uncited"] == 1
    # The worker's reads are audited as well as the question: the tools it called and the records it cites.
    worker = AuditEvent.objects.get(action="ask.answer", target=f"exchange:{answer['id']}")
    assert worker.channel == "worker" and worker.patient_id == ada.pk and worker.detail["tools"]
    assert worker.detail["cited"] == [f"observation:{answer['sentences'][0]['citations'][0]['source_id']}"]
    assert FakeOpenAI.requests[-1]["model"] == "served-model"
    assert "[1] The most recent Hemoglobin A1c is 6.7 %" in FakeOpenAI.requests[-1]["messages"][1]["content"]


def test_it_flags_uncited_generated_draft_sentences(ada, settings, openai_server):
    settings.LLM_BACKEND, settings.LLM_BASE_URL, settings.LLM_MODEL = "openai", openai_server, "served-model"
    draft = Draft.objects.create(patient=ada, kind="discharge_summary")
    services.draft_generate(draft_id=draft.pk)
    draft.refresh_from_db()
    sentences = [s for sec in draft.sections for s in sec["sentences"]]
    assert draft.status == "ready" and len(FakeOpenAI.requests) >= len(draft.sections)  # one call per section
    assert any(not s["supported"] for s in sentences if not s["citations"])
    audit = AuditEvent.objects.get(action="draft.generate", target=f"draft:{draft.pk}")
    cited = {f"{c['source_type']}:{c['source_id']}" for s in sentences for c in s["citations"]}
    assert audit.channel == "worker" and audit.patient_id == ada.pk and cited and set(audit.detail["cited"]) == cited
