"""A local server speaking the OpenAI Responses API as Codex calls it, replaying a script.

`POST /v1/responses` is answered with server-sent events: response.created, one
response.output_item.done per scripted item, response.completed.
"""

from __future__ import annotations

import itertools
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from scripted_server import ScriptedServer

Item = dict[str, Any]
_ids = itertools.count(1)


def say(value: str) -> Item:
    return {"type": "message", "role": "assistant", "id": f"msg_{next(_ids)}",
            "content": [{"type": "output_text", "text": value}]}  # fmt: skip


def shell(command: str) -> Item:
    n = next(_ids)
    return {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": "exec_command",
            "arguments": json.dumps({"cmd": command})}  # fmt: skip


class FakeOpenAI(ScriptedServer):
    path = "/v1"

    def answer(self, request: dict, handler: BaseHTTPRequestHandler) -> None:
        items = self.next_turn(request, [say("Done.")])
        rid = f"resp_{next(_ids)}"
        events = [{"type": "response.created", "response": {"id": rid}}]
        events += [{"type": "response.output_item.done", "output_index": i, "item": item}
                   for i, item in enumerate(items)]  # fmt: skip
        usage = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
        events.append({"type": "response.completed", "response": {"id": rid, "usage": usage}})
        self.stream(handler, events)
