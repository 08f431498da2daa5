"""An OpenAI-compatible chat server for tests: scripted replies, tool calls, and `"stream": true` as server-sent
events that can pause mid-reply (so a test can look at the page while the model is still writing)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler

DEFAULT = {"role": "assistant", "content": "The latest HbA1c is 6.7 % [1]. I also like tea."}


def tool_call(name: str, arguments: str = "{}", call_id: str = "call_1") -> dict:
    """A reply that calls one tool, in OpenAI's wire format."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


class FakeOpenAI(BaseHTTPRequestHandler):
    requests: list[dict] = []
    script: list[dict] = []  # the next replies, in order; DEFAULT once they run out
    sse = True  # answer `"stream": true` with events (else one JSON body, as some servers do)
    hold: threading.Event | None = None  # when set up, a streamed reply waits for it halfway through
    failures = 0  # the next requests answered "503 Service Unavailable", as a server that is loading or overloaded

    @classmethod
    def reset(cls) -> None:
        cls.requests, cls.script, cls.sse, cls.hold, cls.failures = [], [], True, None, 0

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(body)
        if FakeOpenAI.failures:
            FakeOpenAI.failures -= 1
            self.send_json({"error": {"message": "model is loading", "type": "server_error"}}, status=503)
            return
        message = FakeOpenAI.script.pop(0) if FakeOpenAI.script else DEFAULT
        if body.get("stream") and FakeOpenAI.sse:
            self.stream(message)
        else:
            self.send_json({"choices": [{"message": message}]})

    def send_json(self, reply: dict, status: int = 200) -> None:
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, message: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        words = (message.get("content") or "").split(" ")
        for i, word in enumerate(words):
            if i == len(words) // 2 and FakeOpenAI.hold is not None:
                FakeOpenAI.hold.wait(timeout=60)
            self.event({"content": word if i == 0 else " " + word})
        for i, call in enumerate(message.get("tool_calls") or []):  # arguments in two pieces, as real servers send them
            args = call["function"]["arguments"]
            self.event(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": args[:1]},
                        }
                    ]
                }
            )
            self.event({"tool_calls": [{"index": i, "function": {"arguments": args[1:]}}]})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def event(self, delta: dict) -> None:
        self.wfile.write(b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n")
        self.wfile.flush()

    def log_message(self, *args):
        pass
