"""A local server speaking the OpenAI Responses API as Codex calls it, replaying a script.

`POST /v1/responses` is answered with server-sent events: response.created, one
response.output_item.done per scripted item, response.completed.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Item = dict[str, Any]
_ids = itertools.count(1)


def say(value: str) -> Item:
    return {"type": "message", "role": "assistant", "id": f"msg_{next(_ids)}",
            "content": [{"type": "output_text", "text": value}]}  # fmt: skip


def shell(command: str) -> Item:
    n = next(_ids)
    return {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": "exec_command",
            "arguments": json.dumps({"cmd": command})}  # fmt: skip


class FakeOpenAI:
    def __init__(self, turns: list[list[Item]]) -> None:
        self.turns = list(turns)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seen(self) -> str:
        return json.dumps(self.requests)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with fake._lock:
                    fake.requests.append(request)
                    items = fake.turns.pop(0) if fake.turns else [say("Done.")]
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                rid = f"resp_{next(_ids)}"
                events = [{"type": "response.created", "response": {"id": rid}}]
                events += [{"type": "response.output_item.done", "output_index": i, "item": item}
                           for i, item in enumerate(items)]  # fmt: skip
                usage = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
                events.append({"type": "response.completed", "response": {"id": rid, "usage": usage}})
                for event in events:
                    self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

            def log_message(self, *args: object) -> None:
                pass

        return Handler
