"""Agents make the change in a worktree. Each backend is one module with the members of `Agent`:
its `Settings` model, `run(settings, job)` and `resume(settings, job, session)` for a repair round
(None from one that cannot take a second turn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines.plugins import Backend
from pipelines.proxy import Answer
from pipelines.sandbox import Box


class AgentSettings(Backend, Protocol):
    @property
    def repair_rounds(self) -> int: ...  # gate runs handed back to the agent, at most

    @property
    def inputs(self) -> tuple[str, ...]: ...  # workspace files it reads (a codemod's script)

    @property
    def retries(self) -> int: ...  # runs started again after a transient failure, at most


class Agent(Protocol):
    """An agent backend: a module with these members."""

    USES_ENV: bool  # it runs the repo's tests while it works: in the repo's own env
    SKILLS_DIR: str | None  # where in the worktree it reads skills (None: it does not)

    def run(self, settings: Any, job: Job) -> Result: ...

    def resume(self, settings: Any, job: Job, session: str | None) -> Result | None: ...


@dataclass(frozen=True)
class Job:
    worktree: Path
    prompt: Path  # what the agent is told (the ticket's prompt.md, or a repair round's)
    transcript: Path  # where the run's transcript goes
    env: dict[str, str] = field(repr=False)  # built by shipyard: no token of the user's
    box: Box  # the sandbox the agent and every tool it runs are in
    guard_log: Path | None = None  # where the guard hook records refusals
    protected: tuple[str, ...] = ()  # paths the repo protects
    read_only: bool = False  # a planner or reviewer: it reads and answers, it changes nothing
    # what answers the model's requests instead of the API (an eval's replay or recording); the
    # agent reaches it, like the API, only through the model proxy
    model: Answer | None = field(default=None, repr=False)

    @property
    def proxy_log(self) -> Path:
        """Every request the agent sent through the model proxy, beside its transcript."""
        return self.transcript.with_name("proxy.jsonl")


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
    answer: str | None = None  # its last message: what a planner or reviewer answers
    transient: bool = False  # it failed on the way (an API error, a timeout): a retry may succeed
    # it failed before the agent could do anything (the API unreachable, no credential, no CLI):
    # nothing of the change's, so the next `doit ship` runs it again, unasked
    blameless: bool = False
