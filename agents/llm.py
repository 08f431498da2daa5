"""LLM backends behind LangChain's chat-model interface, chosen by settings.LLM_BACKEND.

- `extractive` (default): no model; the planner's facts are the answer, sentence by sentence.
- `transformers`: a local causal LM directory (LLM_MODEL), loaded once per process, on the GPU when present.
- `openai`: an OpenAI-compatible server (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY), e.g. vLLM on-prem.

The generative backends get the facts the tools found, numbered, and must cite them as [n]; a sentence that
cites nothing keeps no citation and the grounding check flags it.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings

from agents import assistant, drafting
from clinic import models as m

SYSTEM = (
    "You are a clinical documentation assistant. Use only the numbered facts given. End every sentence with the "
    "numbers of the facts it uses, like [1] or [2][3]. If the facts do not answer, say that no record was found."
)


class BackendError(Exception):
    """The model could not be loaded or did not answer; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def backend_name() -> str:
    return settings.LLM_BACKEND or "extractive"


def model_name() -> str:
    return "" if backend_name() == "extractive" else settings.LLM_MODEL


def answer(*, patient: m.Patient, question: str) -> dict[str, Any]:
    extracted = assistant.answer_question(patient=patient, question=question)
    if backend_name() == "extractive":
        return extracted
    facts = [s for s in extracted["sentences"] if s["citations"]]
    if not facts:
        return {**extracted, "backend": backend_name()}
    generated = generate_cited(f"Question: {question}", facts)
    sentences = [s for s in generated if s["citations"]]  # an answer states only what it can cite
    if not sentences:
        return {**extracted, "backend": backend_name(), "fallback": "extractive (the model cited nothing)"}
    return {
        "answer": " ".join(s["text"] for s in sentences),
        "sentences": sentences,
        "tools": extracted["tools"],
        "backend": backend_name(),
        "model": model_name(),
        "dropped_uncited": len(generated) - len(sentences),
    }


def draft(
    *,
    kind: str,
    patient: m.Patient,
    encounter: m.Encounter | None,
    on_section: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """The draft's sections; `on_section` sees the sections written so far (the page shows them as they come)."""
    sections = drafting.draft_sections(kind=kind, patient=patient, encounter=encounter)
    if backend_name() == "extractive":
        return sections
    written: list[dict[str, Any]] = []
    for s in sections:
        written.append({"title": s["title"], "sentences": generate_cited(f"Write the '{s['title']}' section.", s["sentences"])})
        if on_section is not None:
            on_section(written)
    return written


def generate_cited(task: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask the chat model to write from numbered facts; map its [n] markers back to the facts' citations."""
    from langchain_core.messages import HumanMessage, SystemMessage

    numbered = "\n".join(f"[{i + 1}] {f['text']}" for i, f in enumerate(facts))
    reply = chat_model().invoke([SystemMessage(SYSTEM), HumanMessage(f"Facts:\n{numbered}\n\n{task}")])
    text = str(reply.content).strip()
    out = []
    for sentence in re.split(r"(?<=[.!?\]])\s+", text):
        refs = [int(n) - 1 for n in re.findall(r"\[(\d+)\]", sentence) if 0 < int(n) <= len(facts)]
        clean = re.sub(r"\s*\[\d+\]", "", sentence).strip()
        if clean:
            out.append({"text": clean, "citations": [c for r in dict.fromkeys(refs) for c in facts[r]["citations"]]})
    return out[:60]


def chat_model() -> Any:
    if backend_name() == "openai":
        return OpenAICompatibleChat(base_url=settings.LLM_BASE_URL, model=settings.LLM_MODEL, api_key=settings.LLM_API_KEY)
    if backend_name() == "transformers":
        return TransformersChat(model_dir=settings.LLM_MODEL)
    raise BackendError(f"LLM_BACKEND={backend_name()!r}: use extractive, transformers or openai")


def _chat_base() -> Any:
    from langchain_core.language_models.chat_models import SimpleChatModel

    return SimpleChatModel


class OpenAICompatibleChat(_chat_base()):  # type: ignore[misc]
    """POST /v1/chat/completions on an OpenAI-compatible server (vLLM, llama.cpp, TGI)."""

    base_url: str
    model: str
    api_key: str = ""
    max_tokens: int = 512
    timeout: float = 120.0

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def _call(self, messages: list[Any], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any) -> str:
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "messages": [{"role": roles.get(msg.type, "user"), "content": str(msg.content)} for msg in messages],
        }
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key or 'none'}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return str(json.load(response)["choices"][0]["message"]["content"])
        except (OSError, KeyError, IndexError, ValueError) as e:
            raise BackendError(f"LLM server at {self.base_url}: {e}", retryable=isinstance(e, OSError)) from e


@functools.lru_cache(maxsize=2)
def load_local_model(model_dir: str) -> tuple[Any, Any, str]:
    """Tokenizer and model from a local directory, once per process; on the GPU when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not model_dir:
        raise BackendError("LLM_MODEL: set it to a local model directory for the transformers backend")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    model = model.to(device).eval()
    return tokenizer, model, device


class TransformersChat(_chat_base()):  # type: ignore[misc]
    model_dir: str
    max_new_tokens: int = 256

    @property
    def _llm_type(self) -> str:
        return "transformers"

    def _call(self, messages: list[Any], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any) -> str:
        import torch

        tokenizer, model, device = load_local_model(self.model_dir)
        prompt = "\n\n".join(f"{msg.type}: {msg.content}" for msg in messages) + "\n\nai:"
        if getattr(tokenizer, "chat_template", None):
            roles = {"system": "system", "human": "user", "ai": "assistant"}
            chat = [{"role": roles.get(msg.type, "user"), "content": str(msg.content)} for msg in messages]
            prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer(prompt, return_tensors="pt", truncation=True, max_length=2048).to(device)
        with torch.no_grad():
            output = model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        return str(tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
