"""A local server speaking the Anthropic Messages API as Claude Code calls it, replaying a script.

`POST /v1/messages` with `stream: true` is answered with server-sent events (message_start,
content_block_start/delta/stop, message_delta, message_stop). Requests that offer tools are the
agent's turns and get the next scripted answer; others (titles, summaries) get a plain text.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Block = dict[str, Any]
# one answer: content blocks, a function of the request giving them, or an HTTP error status
Turn = list[Block] | Callable[[dict], list[Block]] | int

_ids = itertools.count(1)


def text(value: str) -> Block:
    return {"type": "text", "text": value}


def tool(name: str, **tool_input: Any) -> Block:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": tool_input}


class FakeAnthropic:
    def __init__(self, turns: list[Turn]) -> None:
        self.turns = list(turns)
        self.requests: list[dict] = []  # the agent's requests, in order
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seen(self) -> str:
        """Everything the agent sent, as one text: for asserting what reached the model."""
        return json.dumps(self.requests)

    def _next(self, request: dict) -> Turn:
        with self._lock:
            self.requests.append(request)
            turn = self.turns.pop(0) if self.turns else [text("Done.")]
        return turn(request) if callable(turn) else turn

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["content-length"])))
                turn = fake._next(request) if request.get("tools") else [text("ok")]
                if isinstance(turn, int):
                    body = {"type": "error", "error": {"type": "api_error", "message": "scripted failure"}}
                    self.send_response(turn)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps(body).encode())
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for event in _events(request.get("model", "claude"), turn):
                    self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _events(model: str, blocks: list[Block]) -> list[dict]:
    usage = {"input_tokens": 100, "output_tokens": 1}
    message = {"id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}  # fmt: skip
    events: list[dict] = [{"type": "message_start", "message": message}]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            {"type": "content_block_start", "index": index, "content_block": start},
            {"type": "content_block_delta", "index": index, "delta": delta},
            {"type": "content_block_stop", "index": index},
        ]
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    events += [
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
         "usage": {"output_tokens": 20}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return events
