"""Any shell command run in the worktree: codemods, scripts, `sed`."""

from __future__ import annotations

import json
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines import sandbox
from pipelines.agents import Job, Result
from pipelines.files import write_atomic


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["command"]
    run: str
    timeout: int = Field(default=1800, gt=0)
    inputs: tuple[str, ...] = ()  # files the command reads (a codemod's script): changing one reruns it


def run(settings: Settings, job: Job) -> Result:
    started = time.monotonic()
    code, output = sandbox.run(["sh", "-c", settings.run], job.box, job.env, settings.timeout)
    lines = [{"type": "output", "text": line} for line in output.decode(errors="replace").splitlines()]
    lines.append({"type": "exit", "code": code})
    write_atomic(job.transcript, "".join(json.dumps(line) + "\n" for line in lines))
    took = round(time.monotonic() - started, 3)
    if code is None:
        return Result(False, None, took, f"command timed out after {settings.timeout}s")
    if code:
        last = lines[-2]["text"] if len(lines) > 1 else ""
        return Result(False, code, took, f"command exited {code}: {last}".rstrip(": "))
    return Result(True, 0, took)
