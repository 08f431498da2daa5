"""LLM backends behind LangChain's chat-model interface, chosen by settings.LLM_BACKEND.

- `extractive` (default): no model; the planner's facts are the answer, sentence by sentence.
- `transformers`: a local causal LM directory (LLM_MODEL), loaded once per process, on the GPU when present.
- `openai`: an OpenAI-compatible server (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY), e.g. vLLM on-prem.

The generative backends get the facts the tools found, numbered, and must cite them as [n]; a sentence that
cites nothing keeps no citation and the grounding check flags it. Questions go through the tool-using loop
(agents.agent); both backends stream, and `on_text` callers see the text as it is written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from langchain_core.language_models.chat_models import SimpleChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import SecretStr

from agents import agent, assistant, drafting, tools
from agents.agent import SYSTEM, OnText, cite_sentences
from clinic import models as m

__all__ = ["SYSTEM", "BackendError", "answer", "draft", "generate_cited"]

MAX_TOKENS = 512  # a section or an answer, not a chapter
TIMEOUT = 120.0  # seconds for one request to an OpenAI-compatible server
MAX_RETRIES = 2  # the openai client's own retries, with exponential backoff


class BackendError(Exception):
    """The model could not be loaded or did not answer; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def backend_name() -> str:
    return settings.LLM_BACKEND or "extractive"


def model_name() -> str:
    return "" if backend_name() == "extractive" else settings.LLM_MODEL


def answer(*, patient: m.Patient, question: str, on_text: OnText | None = None) -> dict[str, Any]:
    """The cited answer; generative backends run the tool loop, with the planner's facts as the floor."""
    extracted = assistant.answer_question(patient=patient, question=question)
    if backend_name() == "extractive":
        return extracted
    floor = [s for s in extracted["sentences"] if s["citations"]]
    found = agent.run(
        model=chat_model(), tools=tools.langchain_tools(patient=patient), question=question, facts=floor, on_text=on_text
    )
    generated = cite_sentences(found.text, found.facts)
    sentences = [s for s in generated if s["citations"]]  # an answer states only what it can cite
    common = {
        "tools": extracted["tools"] + [c["name"] for c in found.calls if c["name"] not in extracted["tools"]],
        "tool_calls": found.calls,
        "backend": backend_name(),
        "model": model_name(),
    }
    if not sentences:
        return {**extracted, **common, "fallback": "extractive (the model cited nothing)"}
    answer = " ".join(s["text"] for s in sentences)
    return {"answer": answer, "sentences": sentences, **common, "dropped_uncited": len(generated) - len(sentences)}


def draft(
    *,
    kind: str,
    patient: m.Patient,
    encounter: m.Encounter | None,
    on_section: Callable[[list[dict[str, Any]]], None] | None = None,
    on_text: OnText | None = None,
) -> list[dict[str, Any]]:
    """The draft's sections; `on_section` sees the sections written so far, `on_text` the one being written."""
    sections = drafting.draft_sections(kind=kind, patient=patient, encounter=encounter)
    if backend_name() == "extractive":
        return sections
    written: list[dict[str, Any]] = []
    for s in sections:
        task = f"Write the '{s['title']}' section."
        written.append({"title": s["title"], "sentences": generate_cited(task, s["sentences"], on_text=on_text)})
        if on_section is not None:
            on_section(written)
    return written


def generate_cited(task: str, facts: list[dict[str, Any]], on_text: OnText | None = None) -> list[dict[str, Any]]:
    """Ask the chat model to write from numbered facts; map its [n] markers back to the facts' citations."""
    from langchain_core.messages import HumanMessage, SystemMessage

    messages = [SystemMessage(SYSTEM), HumanMessage(f"Facts:\n{agent.numbered(facts)}\n\n{task}")]
    return cite_sentences(str(agent.complete(chat_model(), messages, on_text).content), facts)


def chat_model() -> Any:
    if backend_name() == "openai":
        return OpenAICompatibleChat(
            base_url=settings.LLM_BASE_URL,
            model=settings.LLM_MODEL,
            api_key=SecretStr(settings.LLM_API_KEY or "none"),  # on-prem servers often want none; the client insists on one
            temperature=0,
            max_tokens=MAX_TOKENS,
            timeout=TIMEOUT,
            max_retries=MAX_RETRIES,
        )
    if backend_name() == "transformers":
        return TransformersChat(model_dir=settings.LLM_MODEL)
    raise BackendError(f"LLM_BACKEND={backend_name()!r}: use extractive, transformers or openai")


class OpenAICompatibleChat(BaseChatOpenAI):
    """An OpenAI-compatible server (vLLM, llama.cpp, TGI) through the openai client: tools as `tools`/`tool_calls`,
    streamed replies, `max_tokens` as those servers read it, timeouts, and retries with backoff on connection
    errors, 408/409/429 and 5xx. What still fails comes out as BackendError."""

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with _backend_errors(str(self.openai_api_base)):
            return super()._generate(*args, **kwargs)

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        """As the parent streams, except that a server answering a streamed request in one piece (some do) is read."""
        payload = self._get_request_payload(messages, stop=stop, stream=True, **kwargs)
        with _backend_errors(str(self.openai_api_base)):
            for event in _events(self.client.with_raw_response.create(**payload)):
                chunk = self._convert_chunk_to_generation_chunk(event, AIMessageChunk, {})
                if chunk is not None:
                    if run_manager is not None:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk


def _events(raw: Any) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed reply; a reply sent whole instead comes as one chunk carrying all of it."""
    if raw.headers.get("content-type", "").startswith("text/event-stream"):
        with raw.parse() as events:
            yield from (event.model_dump() for event in events)
        return
    try:
        message = dict(json.loads(raw.http_response.read())["choices"][0]["message"])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise BackendError(f"LLM server at {raw.http_request.url}: not a chat completion ({e!r})") from e
    message["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message.get("tool_calls") or [])]
    yield {"choices": [{"index": 0, "delta": message}]}


@contextlib.contextmanager
def _backend_errors(base_url: str) -> Iterator[None]:
    """openai's errors as BackendError; a retry can help where the server was unreachable, slow, busy or failing
    (httpx's own errors: a stream that breaks off after its first chunks)."""
    import httpx
    import openai

    try:
        yield
    except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError, httpx.TransportError) as e:
        raise BackendError(f"LLM server at {base_url}: {e}", retryable=True) from e
    except openai.OpenAIError as e:
        raise BackendError(f"LLM server at {base_url}: {e}", retryable=False) from e


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


class TransformersChat(SimpleChatModel):
    """A local causal LM; tools go through the ReAct text protocol (see agents.agent), text streams token by token."""

    model_dir: str
    max_new_tokens: int = 256

    @property
    def _llm_type(self) -> str:
        return "transformers"

    def _call(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any) -> str:
        return "".join(str(chunk.message.content) for chunk in self._stream(messages, stop, run_manager, **kwargs))

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        """Generation runs in a thread feeding a TextIteratorStreamer; this generator yields what it decodes."""
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model, device = load_local_model(self.model_dir)
        inputs = tokenizer(_prompt(tokenizer, messages), return_tensors="pt", truncation=True, max_length=2048).to(device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        failures: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.no_grad():  # grad mode is per thread
                    model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                    )
            except Exception as e:  # re-raised below; end the stream so the reader does not wait for the timeout
                failures.append(e)
                streamer.end()

        thread = threading.Thread(target=generate, name="llm-generate", daemon=True)
        thread.start()
        for text in streamer:
            if text:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
        thread.join()
        if failures:
            raise BackendError(f"LLM_MODEL={self.model_dir}: generation failed: {failures[0]}") from failures[0]


def _prompt(tokenizer: Any, messages: list[BaseMessage]) -> str:
    """The conversation in the model's chat template (tool results as user turns), else as plain text."""
    chat = []
    for msg in messages:
        content = f"Observation:\n{msg.content}" if isinstance(msg, ToolMessage) else str(msg.content)
        chat.append({"role": {"system": "system", "ai": "assistant"}.get(msg.type, "user"), "content": content})
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
    return "\n\n".join(f"{c['role']}: {c['content']}" for c in chat) + "\n\nassistant:"
