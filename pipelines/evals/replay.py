"""Recorded model traffic: what answers the real `claude` or `codex` CLI from a recording, through
the model proxy every agent run goes through, or records live traffic as the proxy forwards it.

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
from pathlib import Path
from typing import Any

from pipelines import proxy

WORK = "{{WORK}}"
REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)


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
    """One run's exchanges with the model, replayed or recorded: the model proxy's `answer`."""

    def __init__(self, work: str, recording: list[dict[str, Any]] | None = None, live: bool = False) -> None:
        self.work, self.live = work, live
        self.recording = recording or []
        self.recorded: list[dict[str, Any]] = []
        self.stale: str | None = None  # why the recording no longer fits
        self.turn = 0
        self._lock = threading.Lock()

    def answer(self, path: str, body: bytes, forward: proxy.Forward) -> proxy.Reply:
        try:
            request = json.loads(body)
        except ValueError:
            return proxy.error(400, "the request is not JSON")
        if not agent_turn(request):
            return _events(_small_talk(request.get("model", "model")))
        with self._lock:
            first, self.turn = self.turn == 0, self.turn + 1
            index = self.turn - 1
        wanted = fingerprint(request, first, self.work)
        if self.live:
            reply = forward()
            raw = b"".join(reply.chunks)
            events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
            text = json.dumps(events).replace(self.work, WORK)
            self.recorded.append({"request": wanted, "status": reply.status, "events": json.loads(text)})
            return proxy.Reply(reply.status, reply.content_type, [raw], reply.headers)
        if index >= len(self.recording):
            return self._stale(f"the CLI asked a turn more than the {len(self.recording)} recorded")
        exchange = self.recording[index]
        if exchange["request"] != wanted:
            changed = sorted(k for k in wanted if wanted.get(k) != exchange["request"].get(k))
            return self._stale(
                f"turn {index + 1}: the {' and the '.join(changed)} changed since it was recorded"
            )
        events = json.loads(json.dumps(exchange["events"]).replace(WORK, self.work))
        status = exchange.get("status", 200)
        return _events(events) if status == 200 else proxy.Reply(status, "application/json", [_sse(events)])

    def _stale(self, why: str) -> proxy.Reply:
        self.stale = self.stale or why
        return proxy.error(500, f"stale recording: {why}")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save(path: Path, traffic: Traffic) -> None:
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in traffic.recorded))


def _events(events: list[dict[str, Any]]) -> proxy.Reply:
    return proxy.Reply(200, "text/event-stream", [_sse(events)])


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
