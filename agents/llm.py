"""LLM backends behind LangChain's chat-model interface, chosen by settings.LLM_BACKEND.

- `extractive` (default): no model; the planner's facts are the answer, sentence by sentence.
- `transformers`: a local causal LM directory (LLM_MODEL), loaded once per process, on the GPU when present.
- `openai`: an OpenAI-compatible server (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY), e.g. vLLM on-prem.

The generative backends get the facts the tools found, numbered, and must cite them as [n]; a sentence that
cites nothing keeps no citation and the grounding check flags it. Questions go through the tool-using loop
(agents.agent); both backends stream, and `on_text` callers see the text as it is written.
"""

from __future__ import annotations

import functools
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from langchain_core.language_models.chat_models import BaseChatModel, SimpleChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agents import agent, assistant, drafting, tools
from agents.agent import SYSTEM, OnText, cite_sentences
from clinic import models as m

__all__ = ["SYSTEM", "BackendError", "answer", "draft", "generate_cited"]


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
        return OpenAICompatibleChat(base_url=settings.LLM_BASE_URL, model=settings.LLM_MODEL, api_key=settings.LLM_API_KEY)
    if backend_name() == "transformers":
        return TransformersChat(model_dir=settings.LLM_MODEL)
    raise BackendError(f"LLM_BACKEND={backend_name()!r}: use extractive, transformers or openai")


ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


class OpenAICompatibleChat(BaseChatModel):
    """POST /v1/chat/completions on an OpenAI-compatible server (vLLM, llama.cpp, TGI), with `tools`/`tool_calls`
    and `"stream": true` (server-sent events); a server that ignores `stream` and answers in one piece works too."""

    base_url: str
    model: str
    api_key: str = ""
    max_tokens: int = 512
    timeout: float = 120.0

    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        with self._post(messages, stream=False, **kwargs) as response:
            message = _read_json(response, self.base_url)
        return ChatResult(generations=[ChatGeneration(message=_ai_message(message))])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        with self._post(messages, stream=True, **kwargs) as response:
            if "text/event-stream" not in response.headers.get("Content-Type", ""):
                deltas: Iterator[dict[str, Any]] = iter([_read_json(response, self.base_url)])
            else:
                deltas = _sse_deltas(response, self.base_url)
            for delta in deltas:
                chunk = ChatGenerationChunk(message=_ai_chunk(delta))
                if run_manager is not None:
                    run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
                yield chunk

    def _post(self, messages: list[BaseMessage], *, stream: bool, **kwargs: Any) -> Any:
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "stream": stream,
            "messages": [_wire_message(msg) for msg in messages],
        }
        if kwargs.get("tools"):
            body["tools"] = kwargs["tools"]
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key or 'none'}"},
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except OSError as e:
            raise BackendError(f"LLM server at {self.base_url}: {e}", retryable=True) from e


def _wire_message(msg: BaseMessage) -> dict[str, Any]:
    """A LangChain message in OpenAI's wire format, tool calls and tool results included."""
    out: dict[str, Any] = {"role": ROLES.get(msg.type, "assistant" if isinstance(msg, AIMessage) else "user")}
    out["content"] = str(msg.content)
    if isinstance(msg, ToolMessage):
        out["tool_call_id"] = msg.tool_call_id
    if isinstance(msg, AIMessage) and msg.tool_calls:
        out["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
            for c in msg.tool_calls
        ]
    return out


def _read_json(response: Any, base_url: str) -> dict[str, Any]:
    try:
        return dict(json.load(response)["choices"][0]["message"])
    except (OSError, KeyError, IndexError, TypeError, ValueError) as e:
        raise BackendError(f"LLM server at {base_url}: {e}", retryable=isinstance(e, OSError)) from e


def _sse_deltas(response: Any, base_url: str) -> Iterator[dict[str, Any]]:
    """The `delta` of each `data:` event until `[DONE]`."""
    try:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            choices = json.loads(data).get("choices") or [{}]
            yield dict(choices[0].get("delta") or {})
    except (OSError, ValueError, AttributeError) as e:
        raise BackendError(f"LLM server at {base_url}: stream broke off: {e}", retryable=isinstance(e, OSError)) from e


def _ai_message(message: dict[str, Any]) -> AIMessage:
    from langchain_core.messages import message_chunk_to_message

    return message_chunk_to_message(_ai_chunk(message))  # type: ignore[return-value]


def _ai_chunk(delta: dict[str, Any]) -> AIMessageChunk:
    """A whole message or a stream delta as a chunk; tool-call arguments stay text until the chunks are joined."""
    calls = []
    for i, call in enumerate(delta.get("tool_calls") or []):
        function = call.get("function") or {}
        args = function.get("arguments")
        calls.append(
            {
                "name": function.get("name"),
                "args": args if isinstance(args, str) or args is None else json.dumps(args),
                "id": call.get("id"),
                "index": call.get("index", i),
                "type": "tool_call_chunk",
            }
        )
    return AIMessageChunk(content=delta.get("content") or "", tool_call_chunks=calls)  # type: ignore[arg-type]


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
