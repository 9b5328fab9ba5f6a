"""A local server speaking the Anthropic Messages API as Claude Code calls it, replaying a script.

`POST /v1/messages` with `stream: true` is answered with server-sent events (message_start,
content_block_start/delta/stop, message_delta, message_stop). Requests that offer tools are the
agent's turns and get the next scripted answer; others (titles, summaries) get a plain text.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from scripted_server import ScriptedServer

Block = dict[str, Any]
# one answer: content blocks, a function of the request giving them, or an HTTP error status
Turn = list[Block] | Callable[[dict], list[Block]] | int

_ids = itertools.count(1)


def text(value: str) -> Block:
    return {"type": "text", "text": value}


def tool(name: str, **tool_input: Any) -> Block:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": tool_input}


class FakeAnthropic(ScriptedServer):
    input_tokens = 100  # what each answer says it read: the CLI prices the run from it

    def answer(self, request: dict, handler: BaseHTTPRequestHandler) -> None:
        turn = self.next_turn(request, [text("Done.")]) if request.get("tools") else [text("ok")]
        if callable(turn):
            turn = turn(request)
        if isinstance(turn, int):
            body = {"type": "error", "error": {"type": "api_error", "message": "scripted failure"}}
            handler.send_response(turn)
            handler.send_header("content-type", "application/json")
            handler.end_headers()
            handler.wfile.write(json.dumps(body).encode())
            return
        self.stream(handler, _events(request.get("model", "claude"), turn, self.input_tokens))


def _events(model: str, blocks: list[Block], input_tokens: int) -> list[dict]:
    usage = {"input_tokens": input_tokens, "output_tokens": 1}
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
