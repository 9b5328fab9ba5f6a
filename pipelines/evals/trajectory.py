"""A run's trajectory, the same for Claude Code and Codex: the tool calls in order, the guard's
refusals, the final message, turns and cost."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Call:
    tool: str  # Claude Code's names: Bash, Read, Edit, Write, Glob, Grep... (Codex's are mapped)
    args: dict[str, Any]

    @property
    def text(self) -> str:
        """The arguments as one text, for `contains` and `match`."""
        return json.dumps(self.args, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Trajectory:
    calls: tuple[Call, ...] = ()
    refused: tuple[str, ...] = ()  # the guard's rules, in the order it refused
    final: str = ""
    turns: int = 0
    cost_usd: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def read(transcript: Path, guard_log: Path | None = None) -> Trajectory:
    """The trajectory of a transcript of either CLI, with the guard's refusals from its log."""
    events = []
    if transcript.exists():
        for line in transcript.read_text(errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    calls, final, turns, cost = _claude(events) if _is_claude(events) else _codex(events)
    refused: list[str] = []
    if guard_log is not None and guard_log.exists():
        for line in guard_log.read_text().splitlines():
            if line.strip():
                refused.append(json.loads(line).get("rule", ""))
    return Trajectory(tuple(calls), tuple(refused), final, turns, cost)


def _is_claude(events: list[dict[str, Any]]) -> bool:
    return any(e.get("type") in ("assistant", "result") for e in events)


def _claude(events: list[dict[str, Any]]) -> tuple[list[Call], str, int, float]:
    calls, final = [], ""
    for event in events:
        if event.get("type") != "assistant":
            continue
        for block in (event.get("message") or {}).get("content") or []:
            if block.get("type") == "tool_use":
                calls.append(Call(block.get("name", ""), dict(block.get("input") or {})))
            elif block.get("type") == "text" and block.get("text"):
                final = block["text"]
    result = next((e for e in reversed(events) if e.get("type") == "result"), {})
    said = result.get("result")
    final = said if isinstance(said, str) else final
    return calls, final, int(result.get("num_turns") or 0), float(result.get("total_cost_usd") or 0.0)


def _codex(events: list[dict[str, Any]]) -> tuple[list[Call], str, int, float]:
    calls, final, turns = [], "", 0
    for event in events:
        if event.get("type") != "item.completed":
            continue
        item = event.get("item") or {}
        kind = item.get("type")
        if kind == "command_execution":
            calls.append(Call("Bash", {"command": item.get("command", "")}))
        elif kind == "file_change":
            calls.append(Call("Edit", {"changes": item.get("changes", [])}))
        elif kind == "mcp_tool_call":
            calls.append(Call(item.get("tool", "mcp"), dict(item.get("arguments") or {})))
        elif kind == "agent_message":
            final = item.get("text", "")
        if kind != "error":
            turns += 1
    return calls, final, turns, 0.0


def read_all(transcripts: list[Path], guard_log: Path | None = None) -> Trajectory:
    """One trajectory of a run and its repair rounds, each round a transcript of its own."""
    parts = [read(t) for t in transcripts]
    first = read(transcripts[0], guard_log)
    return Trajectory(
        calls=tuple(c for part in parts for c in part.calls),
        refused=first.refused,
        final=parts[-1].final,
        turns=sum(part.turns for part in parts),
        cost_usd=sum(part.cost_usd for part in parts),
    )
