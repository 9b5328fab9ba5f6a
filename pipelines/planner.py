"""The planner agent: Claude Code or Codex, with read-only tools over every candidate repo at its
pinned base, answers which repos a ticket changes, why, what each repo's agent is to do, and in
which order. Its answer is checked against a schema; a wrong one gets one repair turn, then the
deterministic planner takes over and the plan says why.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pipelines import plugins, sandbox, spend, templates, worktrees
from pipelines.agents import Job
from pipelines.config import Workspace, cycle
from pipelines.files import write_atomic
from pipelines.tickets import Ticket

TEMPLATE = "planner.md.j2"
REPAIR_TEMPLATE = "planner_repair.md.j2"
TEMPLATES = (TEMPLATE, REPAIR_TEMPLATE)
SKILL = Path(__file__).parent / "agent_skills" / "planner" / "SKILL.md"  # shipped with shipyard


class Pick(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    why: str
    instructions: str
    after: tuple[str, ...] = ()


class Answer(BaseModel):
    """What the planner answers: the repos the ticket changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    repos: tuple[Pick, ...]


@dataclass(frozen=True)
class Outcome:
    picks: tuple[Pick, ...] | None  # None: no valid answer, the deterministic planner decides
    kind: str  # the agent's kind
    cost_usd: float
    why_not: str | None = None  # why its answer was not used


def plan(
    workspace: Workspace, ticket: Ticket, settings: Any, bases: Mapping[str, str], named: Sequence[str]
) -> Outcome:
    """Ask the planner agent; its picks once they pass the checks, after one repair turn at most."""
    paths = workspace.paths
    folder = paths.ticket_dir(ticket.id) / "planner"
    spend.check(paths, ticket.id, workspace.budget(ticket), f"{ticket.id}: plan")
    trees = {repo: worktrees.base_tree(workspace, repo, sha) for repo, sha in bases.items()}
    prompt = folder / "prompt.md"
    write_atomic(prompt, templates.render(
        TEMPLATE, ticket=ticket, named=named, skill=SKILL.read_text(),
        repos=[{"name": r, "description": workspace.repos[r].description, "tree": trees[r]} for r in bases],
    ))  # fmt: skip
    agent = plugins.agent(settings.kind)
    job = _job(workspace, folder, prompt, list(trees.values()), settings.kind)
    cost, why = 0.0, ""
    for turn in (1, 2):
        attempt = spend.begin(folder, "planner")
        result = agent.run(settings, job)
        spend.end(attempt, result, job.transcript)
        cost += result.cost_usd or 0.0
        if not result.ok:
            return Outcome(None, settings.kind, cost, f"the {settings.kind} planner failed: {result.error}")
        try:
            return Outcome(check(result.answer or "", bases, named), settings.kind, cost)
        except ValueError as err:
            why = str(err)
        if turn == 1:  # one repair turn: the same question, and what was wrong with the answer
            repair = folder / "repair.md"
            write_atomic(repair, prompt.read_text() + templates.render(REPAIR_TEMPLATE, error=why))
            job = replace(job, prompt=repair, transcript=folder / "repair.jsonl")
    return Outcome(None, settings.kind, cost, f"the {settings.kind} planner's answer was not usable: {why}")


def check(answer: str, candidates: Mapping[str, str], named: Sequence[str]) -> tuple[Pick, ...]:
    """The picks in `answer`, or a ValueError that says, in one line, what is wrong with it."""
    text = _json_in(answer)
    try:
        picks = Answer.model_validate_json(text).repos
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"not the JSON asked for: {where}: {first['msg']}") from None
    names = [p.name for p in picks]
    if unknown := [n for n in names if n not in candidates]:
        raise ValueError(f"unknown repo {unknown[0]!r}; the repos are: {', '.join(candidates)}")
    if len(set(names)) != len(names):
        raise ValueError("a repo is listed twice")
    if not picks and not named:
        raise ValueError("no repo chosen")
    for pick in picks:
        if outside := [a for a in pick.after if a not in names]:
            raise ValueError(f"{pick.name} comes after {outside[0]!r}, which is not among the chosen repos")
    if loop := cycle({p.name: list(p.after) for p in picks}):
        raise ValueError(f"the order has a cycle: {' -> '.join(loop)}")
    return picks


def order(after: Mapping[str, Sequence[str]]) -> list[str]:
    """The repos, each after those it comes `after`, otherwise in the order given."""
    done: list[str] = []
    while len(done) < len(after):
        ready = [r for r in after if r not in done and all(a in done or a not in after for a in after[r])]
        if not ready:
            raise ValueError("cycle")
        done.append(ready[0])
    return done


def _job(workspace: Workspace, folder: Path, prompt: Path, trees: list[Path], kind: str) -> Job:
    """A read-only run in a scratch folder holding the planner skill; the trees readable."""
    scratch, home = folder / "scratch", folder / "home"
    shutil.rmtree(scratch, ignore_errors=True)
    skills_dir = scratch / (plugins.agent(kind).SKILLS_DIR or ".skills") / "planner"  # where it reads
    skills_dir.mkdir(parents=True)
    shutil.copyfile(SKILL, skills_dir / "SKILL.md")
    env = worktrees.fresh_home(home)
    box = sandbox.Box(
        cwd=scratch, writable=(home,), readable=(prompt, *trees), hidden=(workspace.paths.state,),
        enabled=workspace.defaults.sandbox,
    )  # fmt: skip
    transcript, log = folder / "transcript.jsonl", folder / "guard.jsonl"
    write_atomic(log, "")
    return Job(scratch, prompt, transcript, env, box, log, read_only=True)


def _json_in(answer: str) -> str:
    """The JSON object of an answer, which may come in a fenced block or after a sentence."""
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", answer, re.S)
    if fenced:
        return fenced[1]
    start, end = answer.find("{"), answer.rfind("}")
    return answer[start : end + 1] if 0 <= start < end else answer


def record(outcome: Outcome) -> dict[str, Any]:
    """What plan.json says of who planned it."""
    if outcome.picks is None:
        return {"planner": "deterministic", "fallback": outcome.why_not, "cost_usd": outcome.cost_usd}
    return {"planner": outcome.kind, "cost_usd": outcome.cost_usd}
