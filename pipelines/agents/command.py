"""Any shell command run in the worktree: codemods, scripts, `sed`."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines import sandbox
from pipelines.agents import Job, Result
from pipelines.files import write_atomic

USES_ENV: bool = False  # a codemod brings its own tools
SKILLS_DIR: str | None = None  # it reads no skills


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["command"]
    run: str
    timeout: int = Field(default=1800, gt=0)
    inputs: tuple[str, ...] = ()  # files the command reads (a codemod's script): changing one reruns it
    repair_rounds: ClassVar[int] = 0
    retries: ClassVar[int] = 0  # a failed command waits for `doit forget`: nothing tells a passing failure


def run(settings: Settings, job: Job) -> Result:
    started = time.monotonic()
    code, out, err = sandbox.capture(["sh", "-c", settings.run], job.box, job.env, settings.timeout)
    said = {
        kind: text.decode(errors="replace").splitlines() for kind, text in (("output", out), ("stderr", err))
    }
    lines: list[dict[str, object]] = [
        {"type": kind, "text": line} for kind, texts in said.items() for line in texts
    ]
    lines.append({"type": "exit", "code": code})
    write_atomic(job.transcript, "".join(json.dumps(line) + "\n" for line in lines))
    took = round(time.monotonic() - started, 3)
    if code is None:
        return Result(False, None, took, f"command timed out after {settings.timeout}s")
    if code:  # why it failed is on stderr, if anywhere: its last line, else the output's
        last = next((line for line in reversed(said["stderr"] or said["output"]) if line.strip()), "")
        return Result(False, code, took, f"command exited {code}: {last.strip()[:300]}".rstrip(": "))
    return Result(True, 0, took)


def resume(settings: Settings, job: Job, session: str | None) -> Result | None:
    return None  # a command has no second turn: its run is its answer


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.agents import Agent
    from pipelines.agents import command as this

    _: Agent = this
