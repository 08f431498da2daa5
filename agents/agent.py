"""The tool-using loop of the generative backends, on LangChain's message and tool primitives.

The model sees numbered facts (the extractive planner's, as a floor) and the tool list. It may call tools,
natively (`bind_tools`, OpenAI `tool_calls`) or as ReAct text (`Action:` / `Action Input:`); each result comes
back as further numbered facts. When it stops calling tools its reply is the answer, and every [n] in it maps
to the citations of fact n. A model that never stops gets one last plain request to write from the facts.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.tools import Fact
from clinic.text import sentences

SYSTEM = (
    "You are a clinical documentation assistant. Use only the numbered facts given. End every sentence with the "
    "numbers of the facts it uses, like [1] or [2][3]. If the facts do not answer, say that no record was found."
)
MAX_STEPS = 4
MAX_CALLS_PER_STEP = 3
STREAM_EVERY = 0.5  # seconds between saves of the partial text: the page polls once a second
ACTION = re.compile(r"Action:\s*`?([A-Za-z_]\w*)`?[ \t]*(?:\r?\n\s*Action Input:[ \t]*(.*))?", re.IGNORECASE)
MARKER = re.compile(r"\s*\[\d+\]|\s*\[\d*$")  # [n], and a marker still being written at the end
FINAL = re.compile(r"^.*?Final Answer:\s*", re.IGNORECASE | re.DOTALL)
TOOL_PROMPT = """

You may look up more facts with these tools:
{tools}
To use one, reply with only these two lines and wait for the result:
Action: <tool name>
Action Input: <the input, or nothing>
When the facts suffice, reply with the answer only, citing the fact numbers."""

OnText = Callable[[str], None]


@dataclass
class Run:
    """What the loop found: every fact (numbered from 1), the tool calls made and the model's final text."""

    facts: list[dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""


def numbered(facts: list[dict[str, Any]], start: int = 1) -> str:
    return "\n".join(f"[{i}] {f['text']}" for i, f in enumerate(facts, start)) or "No matching records."


def cite_sentences(text: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reply's sentences, each with the citations of the facts its [n] markers name (none when it names none)."""
    out = []
    for sentence in (s.text for s in sentences(text)):
        refs = [int(n) - 1 for n in re.findall(r"\[(\d+)\]", sentence) if 0 < int(n) <= len(facts)]
        clean = re.sub(r"\s*\[\d+\]", "", sentence).strip()
        if clean:
            out.append({"text": clean, "citations": [c for r in dict.fromkeys(refs) for c in facts[r]["citations"]]})
    return out[:60]


def complete(model: Any, messages: list[Any], on_text: OnText | None = None) -> Any:
    """The model's reply as one AIMessage, streamed; `on_text` sees the text so far every STREAM_EVERY seconds,
    without [n] markers: unchecked text must not look cited."""
    from langchain_core.messages import AIMessage, message_chunk_to_message

    full: Any = None
    shown, last = "", 0.0
    for chunk in model.stream(messages):
        full = chunk if full is None else full + chunk
        text = MARKER.sub("", str(full.content)).strip()
        if on_text is not None and text and text != shown and time.monotonic() - last >= STREAM_EVERY:
            on_text(text)
            shown, last = text, time.monotonic()
    if full is None:
        return AIMessage("")
    if on_text is not None and MARKER.sub("", str(full.content)).strip() not in ("", shown):
        on_text(MARKER.sub("", str(full.content)).strip())
    return message_chunk_to_message(full)


def run(*, model: Any, tools: list[Any], question: str, facts: list[dict[str, Any]], on_text: OnText | None = None) -> Run:
    """Let the model call tools for up to MAX_STEPS replies, then take its answer (see the module docstring)."""
    from langchain_core.messages import HumanMessage, SystemMessage

    by_name = {t.name: t for t in tools}
    state = Run(facts=list(facts))
    listing = "\n".join(f"- {t.name}({', '.join(t.args)}): {t.description}" for t in tools)
    messages: list[Any] = [
        SystemMessage(SYSTEM + TOOL_PROMPT.format(tools=listing)),
        HumanMessage(f"Facts:\n{numbered(state.facts)}\n\nQuestion: {question}"),
    ]
    bound = _bind(model, tools)
    for _ in range(MAX_STEPS):
        reply = complete(bound, messages, on_text)
        native = list(reply.tool_calls or [])[:MAX_CALLS_PER_STEP]
        broken = list(getattr(reply, "invalid_tool_calls", None) or [])[:MAX_CALLS_PER_STEP]
        calls = native or ([] if broken else _react_calls(str(reply.content), by_name))
        if not calls and not broken:
            state.text = FINAL.sub("", str(reply.content)).strip()
            return state
        messages.append(reply if native or broken else _react_message(reply))
        for call in calls:
            if on_text is not None:
                on_text(f"Looking up {call['name']}…")
            observation = _call_tool(state, by_name, call)
            messages.append(_tool_message(observation, call) if native else HumanMessage(f"Observation:\n{observation}"))
        for bad in broken:  # after the tool results: OpenAI wants those right after the calls
            raw = str(bad.get("args") or "")[:200]
            state.calls.append(
                {"name": bad.get("name") or "", "input": raw, "facts": 0, "sources": [], "error": "arguments are not JSON"}
            )
            messages.append(HumanMessage(f"Your call to {bad.get('name')} failed: its arguments are not JSON."))
    messages.append(HumanMessage("Answer the question now from the numbered facts, without tools."))
    state.text = FINAL.sub("", str(complete(model, messages, on_text).content)).strip()
    return state


def _bind(model: Any, tools: list[Any]) -> Any:
    """The model with the tools in its wire format where the chat class supports it; else the text protocol only."""
    try:
        return model.bind_tools(tools)
    except NotImplementedError:
        return model


def _react_calls(text: str, by_name: dict[str, Any]) -> list[dict[str, Any]]:
    """`Action: name` / `Action Input: ...` as a LangChain ToolCall; unknown names are kept and answered with the list."""
    match = ACTION.search(text)
    if match is None:
        return []
    name, raw = match.group(1), (match.group(2) or "").strip().strip("`'\"")
    args: Any = {}
    if raw.startswith("{"):
        try:
            args = json.loads(raw)
        except ValueError:
            args = {}
    tool = by_name.get(name)
    if not isinstance(args, dict):
        args = {}
    if not args and raw and tool is not None and len(tool.args) == 1:  # a plain input for a one-argument tool
        args = {next(iter(tool.args)): raw}
    return [{"name": name, "args": args, "id": f"react-{uuid.uuid4().hex[:8]}", "type": "tool_call"}]


def _react_message(reply: Any) -> Any:
    """The model's action without any observation it went on to imagine."""
    from langchain_core.messages import AIMessage

    return AIMessage(str(reply.content).split("Observation:")[0].strip())


def _tool_message(observation: str, call: dict[str, Any]) -> Any:
    from langchain_core.messages import ToolMessage

    return ToolMessage(observation, tool_call_id=call.get("id") or "", name=call["name"])


def _call_tool(state: Run, by_name: dict[str, Any], call: dict[str, Any]) -> str:
    """Run one call; new facts are numbered after the known ones (a fact seen before keeps its number)."""
    name, args = call["name"], call.get("args") or {}
    record: dict[str, Any] = {"name": name, "input": _input_text(args), "facts": 0, "sources": []}
    state.calls.append(record)
    tool = by_name.get(name)
    if tool is None:
        record["error"] = "unknown tool"
        return f"There is no tool {name!r}; use one of: {', '.join(by_name)}."
    try:
        message = tool.invoke({"type": "tool_call", "name": name, "args": args, "id": call.get("id") or "call"})
    except Exception as e:  # a bad input is the model's mistake: tell it, and go on
        record["error"] = f"{type(e).__name__}: {e}"[:200]
        return f"The tool {name} failed: {record['error']}"
    found: list[Fact] = list(message.artifact or [])
    known = {f["text"]: i for i, f in enumerate(state.facts, 1)}
    lines = []
    for fact in found:
        if fact.text not in known:
            state.facts.append(fact.as_sentence())
            known[fact.text] = len(state.facts)
        lines.append(f"[{known[fact.text]}] {fact.text}")
    record["facts"] = len(found)
    record["sources"] = sorted({f"{c['source_type']}:{c['source_id']}" for f in found for c in f.citations})
    return "\n".join(lines) or "No matching records."


def _input_text(args: dict[str, Any]) -> str:
    if len(args) == 1:
        return str(next(iter(args.values())))[:200]
    return json.dumps(args)[:200] if args else ""
