"""Agents make the change in a worktree. Each backend: a `Settings` model and `run(settings, job)`.

A backend that can take a second turn in the same session also has `resume(settings, job, session)`
(repair rounds), and one that reads skills from the worktree names the folder in `SKILLS_DIR`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.sandbox import Box


@dataclass(frozen=True)
class Job:
    worktree: Path
    prompt: Path  # what the agent is told (the ticket's prompt.md, or a repair round's)
    transcript: Path  # where the run's transcript goes
    env: dict[str, str] = field(repr=False)  # built by shipyard: no token of the user's
    box: Box  # the sandbox the agent and every tool it runs are in
    guard_log: Path | None = None  # where the guard hook records refusals
    protected: tuple[str, ...] = ()  # paths the repo protects

    @property
    def hook_writes(self) -> list[Path]:
        """What the guard hook, in the sandbox with the agent, appends to."""
        return [self.guard_log] if self.guard_log is not None else []


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
    session: str | None = None  # to resume for a repair round, where the agent can
