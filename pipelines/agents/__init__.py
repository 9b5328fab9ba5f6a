"""Agents make the change in a worktree. Each backend: a `Settings` model and `run(settings, job)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Job:
    worktree: Path
    prompt: Path
    transcript: Path
    env: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Result:
    ok: bool
    exit_code: int | None
    duration_s: float
    error: str | None = None
    turns: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
