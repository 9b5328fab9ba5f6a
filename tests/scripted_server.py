"""The part every scripted model server shares: a thread serving 127.0.0.1, and what it was sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_server import LocalServer


class ScriptedServer(LocalServer):
    """Answers POSTs with `answer(request, handler)`; keeps each request it is sent, in order."""

    path = ""  # what the API's base URL adds to the server's address

    def __init__(self, turns: list[Any]) -> None:
        self.turns = list(turns)
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []  # each request's headers (names in lower case), in order
        self.bodies: list[bytes] = []  # each request's body, agent turn or not
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}"

    def seen(self) -> str:
        """Everything the agent sent, as one text: for asserting what reached the model."""
        return json.dumps(self.requests)

    def seen_headers(self) -> str:
        """Every header the agent's requests arrived with, as one text."""
        return json.dumps(self.headers)

    def next_turn(self, request: dict, default: Any) -> Any:
        with self._lock:
            self.requests.append(request)
            return self.turns.pop(0) if self.turns else default

    def answer(self, request: dict, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def stream(handler: BaseHTTPRequestHandler, events: list[dict]) -> None:
        """Server-sent events, as both APIs stream them."""
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.end_headers()
        for event in events:
            handler.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                server.bodies.append(body)
                server.answer(json.loads(body), self)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
