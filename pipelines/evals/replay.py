"""Recorded model traffic: a server on 127.0.0.1 that answers the real `claude` or `codex` CLI from
a recording, and a proxy that makes one from live traffic.

A recording (`<scenario>.<kind>.jsonl`) is one exchange per line: what identifies the request
(the tools offered; for the first, the prompt too) and the server-sent events that answered it.
The run's worktree path is written `{{WORK}}`, so a recording replays in any folder. When the CLI
asks something the recording does not hold (the prompt, the skills or the tools changed), the
replay is **stale**: it answers an error, and the run is never graded as a pass.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Generator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WORK = "{{WORK}}"
REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
FORWARDED = ("content-type", "x-api-key", "authorization", "anthropic-version", "anthropic-beta")


def fingerprint(request: dict[str, Any], first: bool, work: str) -> dict[str, Any]:
    """What must be the same for a recorded answer to fit: the tools, and the first prompt."""
    tools = sorted(t.get("name") or t.get("type", "") for t in request.get("tools") or [])
    found: dict[str, Any] = {"tools": tools}
    if first:  # what shipyard wrote, without the context the CLI adds (its git status, say)
        found["prompt"] = REMINDER.sub("", _first_prompt(request)).replace(work, WORK).strip()
    return found


def _first_prompt(request: dict[str, Any]) -> str:
    """The user's first message (Messages API) or input (Responses API), as text."""
    messages = request.get("messages") or request.get("input") or []
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))
    return ""


def agent_turn(request: dict[str, Any]) -> bool:
    """Whether the CLI asks as the agent (it offers tools), not for a title or a summary."""
    return bool(request.get("tools"))


class Traffic:
    """One run's exchanges with the model, replayed or recorded."""

    def __init__(self, work: str, recording: list[dict[str, Any]] | None = None, upstream: str = "") -> None:
        self.work, self.upstream = work, upstream.rstrip("/")
        self.recording = recording or []
        self.recorded: list[dict[str, Any]] = []
        self.stale: str | None = None  # why the recording no longer fits
        self.turn = 0
        self._lock = threading.Lock()

    def answer(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes]:
        request = json.loads(body)
        if not agent_turn(request):
            return 200, _sse(_small_talk(request.get("model", "model")))
        with self._lock:
            first, self.turn = self.turn == 0, self.turn + 1
            index = self.turn - 1
        wanted = fingerprint(request, first, self.work)
        if self.upstream:
            status, raw = self._forward(path, headers, body)
            events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
            text = json.dumps(events).replace(self.work, WORK)
            self.recorded.append({"request": wanted, "status": status, "events": json.loads(text)})
            return status, raw
        if index >= len(self.recording):
            return self._stale(f"the CLI asked a turn more than the {len(self.recording)} recorded")
        exchange = self.recording[index]
        if exchange["request"] != wanted:
            changed = sorted(k for k in wanted if wanted.get(k) != exchange["request"].get(k))
            return self._stale(
                f"turn {index + 1}: the {' and the '.join(changed)} changed since it was recorded"
            )
        events = json.loads(json.dumps(exchange["events"]).replace(WORK, self.work))
        return exchange.get("status", 200), _sse(events)

    def _stale(self, why: str) -> tuple[int, bytes]:
        self.stale = self.stale or why
        error = {"type": "error", "error": {"type": "api_error", "message": f"stale recording: {why}"}}
        return 500, json.dumps(error).encode()

    def _forward(self, path: str, headers: Any, body: bytes) -> tuple[int, bytes]:
        sent = {k: v for k, v in headers.items() if k.lower() in FORWARDED}
        request = urllib.request.Request(self.upstream + path, data=body, headers=sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()


@contextmanager
def serve(traffic: Traffic) -> Generator[str]:
    """A server on 127.0.0.1 for `traffic`; yields its base URL (the API's, without /v1)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, data = traffic.answer(self.path, self.headers, body)
            self.send_response(status)
            self.send_header("content-type", "text/event-stream" if status == 200 else "application/json")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save(path: Path, traffic: Traffic) -> None:
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in traffic.recorded))


def _sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e.get('type', 'message')}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _small_talk(model: str) -> list[dict[str, Any]]:
    """A one-word answer (Messages API) to what the CLI asks besides the agent's turns."""
    message = {"id": "msg_0", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 1}}  # fmt: skip
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    ]
