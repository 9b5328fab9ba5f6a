"""What a ticket's agent runs cost: every attempt keeps its own record, and the ticket's budget is
checked against their sum before any run starts.

An attempt is a folder `attempts/N/` under the repo's folder (the coding agent, its repair rounds,
a reviewer) or under the ticket's `planner/` folder: `usage.json` (status, cost, tokens, turns,
duration, error) and `transcript.jsonl`. `usage.json` is written when the run starts and again when
it ends, so a `kill -9` loses no earlier attempt, and leaves this one recorded as started.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.agents import Result
from pipelines.errors import StepError
from pipelines.files import read_json, write_json
from pipelines.paths import Paths

ATTEMPTS = "attempts"
USAGE = "usage.json"


def begin(folder: Path, role: str, inputs: str | None = None) -> Path:
    """A new `folder/attempts/N/`, recorded as started; `role` says which run it is (agent,
    repair, review, planner), `inputs` what it ran on (a digest: how retries are counted)."""
    root = folder / ATTEMPTS
    root.mkdir(parents=True, exist_ok=True)
    number = 1 + max((int(p.name) for p in root.iterdir() if p.name.isdigit()), default=0)
    while True:
        attempt = root / str(number)
        try:
            os.mkdir(attempt)  # two runs of one repo (a reviewer beside a gate) never share one
            break
        except FileExistsError:
            number += 1
    noted = {"inputs": inputs} if inputs is not None else {}
    write_json(attempt / USAGE, {"role": role, **noted, "status": "started"})
    return attempt


def end(attempt: Path, result: Result, transcript: Path | None = None) -> None:
    """Record how the attempt ended, with a copy of its transcript. A StepError when the step's
    folder went away while it ran (`rm -rf state`): there is nothing left to record it in."""
    try:
        if transcript is not None and transcript.exists():
            shutil.copyfile(transcript, attempt / "transcript.jsonl")
        started = read_json(attempt / USAGE)
    except FileNotFoundError:
        if attempt.is_dir():
            raise
        raise StepError(f"{_shown(attempt.parent.parent)} was removed while the step ran") from None
    usage = {k: v for k, v in asdict(result).items() if k not in ("ok", "session", "answer")}
    write_json(attempt / USAGE, {**started, **usage, "status": "done" if result.ok else "failed"})


def _shown(folder: Path) -> str:
    """`state/ID/REPO` (or `state/ID/planner`): the step's folder as the user knows it, whatever
    the workspace's own path. Attempts live nowhere else, so its last three parts say it."""
    return "/".join(folder.parts[-3:])


def attempts(folder: Path) -> list[dict[str, Any]]:
    """The usage records of every attempt under `folder`, oldest first."""
    root = folder / ATTEMPTS
    if not root.is_dir():
        return []
    numbered = sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [read_json(p / USAGE) for p in numbered if (p / USAGE).exists()]


def cost(folder: Path) -> float:
    """What the attempts under `folder` cost, in USD (a run that reported no cost counts 0)."""
    return sum(a.get("cost_usd") or 0.0 for a in attempts(folder))


def spent(paths: Paths, ticket_id: str) -> float:
    """What the ticket's agent runs have cost so far: the planner's and every repo's attempts."""
    ticket = paths.ticket_dir(ticket_id)
    if not ticket.is_dir():
        return 0.0
    return sum(cost(folder) for folder in ticket.iterdir() if (folder / ATTEMPTS).is_dir())


def check(paths: Paths, ticket_id: str, budget: float | None, what: str) -> None:
    """Refuse to start `what` (e.g. `T-42/billing: patch`) when the ticket spent its budget."""
    if budget is None:
        return
    used = spent(paths, ticket_id)
    if used >= budget:
        raise StepError(
            f"{what}: spent {used:.2f} of {budget:.2f} USD (budget_usd); not starting another agent run"
        )
