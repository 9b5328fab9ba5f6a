"""The `plan:ID` step: which repos a ticket touches, at which pinned base commit, with which skills."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pipelines import git, mirrors
from pipelines import planner as planners
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import write_atomic
from pipelines.paths import Paths
from pipelines.tickets import Ticket

BACKTICKED = re.compile(r"`([^`\n]+)`")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


FETCH_JOBS = 8  # mirrors are fetched side by side, as all-repos-clone does


class Entry(BaseModel):
    """One planned repo: why the ticket changes it, from which pinned base, with which skills."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    base: str
    default_branch: str
    reason: str
    skills: tuple[str, ...]
    instructions: str = ""  # the planner's words for this repo's agent: they go in its prompt
    after: tuple[str, ...] = ()  # repos of the plan that land before this one
    conflict: str = ""  # set by refresh: the patch did not apply to the new base, and why


class Plan(BaseModel):
    """plan.json: the repos a ticket changes, in order, and the pinned bases of the repos its
    gates use without changing them (`uses`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ticket: str
    repos: tuple[Entry, ...]  # in order: each after the repos it comes `after`
    uses: dict[str, str] = {}
    planner: str = "deterministic"  # or the agent kind that planned it
    fallback: str | None = None  # why the deterministic planner took over from the agent
    cost_usd: float | None = None  # what the planner agent's runs cost

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.repos)

    @cached_property
    def _by_name(self) -> dict[str, Entry]:
        return {entry.name: entry for entry in self.repos}

    def entry(self, repo: str) -> Entry:
        return self._by_name[repo]


@dataclass(frozen=True)
class Choice:
    repo: str
    reason: str
    instructions: str = ""
    after: tuple[str, ...] = ()


# A planner takes the ticket, the workspace and the identifiers found in each repo, and chooses.
Planner = Callable[[Ticket, Workspace, Mapping[str, list[str]]], list[Choice]]


def identifiers(ticket: Ticket) -> list[str]:
    """The identifiers a ticket names in backticks: `textkit.old_api(` -> textkit, old_api."""
    found: list[str] = []
    for quoted in BACKTICKED.findall(f"{ticket.title}\n{ticket.body}"):
        for word in IDENTIFIER.findall(quoted):
            if word not in found:
                found.append(word)
    return found


def deterministic(ticket: Ticket, workspace: Workspace, found: Mapping[str, list[str]]) -> list[Choice]:
    """Repos the ticket names; else repos holding its identifiers or described in its words."""
    if ticket.repos is not None:
        return [Choice(repo, "named in the ticket") for repo in ticket.repos]
    words = identifiers(ticket)
    text = f"{ticket.title}\n{ticket.body}".lower()
    choices = []
    for repo, spec in workspace.repos.items():
        if repo not in found:  # not reached
            continue
        if hits := found.get(repo):
            choices.append(Choice(repo, f"contains {', '.join(f'`{w}`' for w in hits)}"))
        elif any(w.lower() in spec.description.lower() for w in words):
            choices.append(Choice(repo, "its description names the ticket's identifiers"))
        elif re.search(rf"\b{re.escape(repo.lower())}\b", text):
            choices.append(Choice(repo, "named in the ticket's text"))
    return choices


def make(workspace: Workspace, ticket_id: str, repin: bool, planner: Planner = deterministic) -> None:
    """Write plan.json. Bases already pinned stay pinned unless `repin` (a forgotten plan)."""
    paths = workspace.paths
    ticket = workspace.tickets[ticket_id]
    target = paths.plan(ticket_id)
    old: dict[str, str] = {}
    branches: dict[str, str] = {}  # the default branch each pinned base was taken from
    if not repin and (previous := read(paths, ticket_id)) is not None:
        old = {**previous.uses, **{entry.name: entry.base for entry in previous.repos}}
        branches = {entry.name: entry.default_branch for entry in previous.repos}

    def pin(repo: str) -> tuple[str, str]:
        """The repo's default branch and its base: kept where pinned already, else the branch's tip."""
        spec, pinned = workspace.repos[repo], old.get(repo)
        if pinned and mirrors.has(paths, repo, pinned):
            kept = spec.default_branch or branches.get(repo)  # the branch it was pinned from
            return kept or mirrors.default_branch(paths, repo, spec), pinned
        return mirrors.branch_tip(paths, repo, spec)

    def pin_if_reachable(repo: str) -> tuple[str, str] | None:
        """A repo the ticket does not name is skipped, with a warning, when it cannot be reached;
        one it names fails the plan (and only this ticket's)."""
        try:
            return pin(repo)
        except StepError as err:
            if named:
                raise StepError(f"{ticket_id}: plan: {err}") from None
            print(f"{ticket_id}: plan: skipped {repo}, which cannot be reached: {err}", file=sys.stderr)
            return None

    named = ticket.repos is not None
    candidates = list(ticket.repos) if named else list(workspace.repos)
    words = identifiers(ticket) if not named else []
    with ThreadPoolExecutor(FETCH_JOBS) as pool:
        reached = dict(zip(candidates, pool.map(pin_if_reachable, candidates), strict=True))
        pins = {repo: pinned for repo, pinned in reached.items() if pinned is not None}
        bases = {repo: base for repo, (_, base) in pins.items()}
        candidates = list(bases)
        hits = pool.map(lambda r: git.grep(paths.mirror(r), bases[r], words), candidates)
        found = dict(zip(candidates, hits, strict=True))
    agent, who = workspace.planner(ticket), {}
    picked = None
    if agent is not None:
        try:
            outcome = planners.plan(workspace, ticket, agent, bases, list(ticket.repos or ()))
        except StepError as err:
            raise StepError(f"{ticket_id}: plan: {err}") from None
        who = planners.record(outcome)
        if outcome.why_not:
            print(f"{ticket_id}: plan: {outcome.why_not}; the deterministic planner decides", file=sys.stderr)
        picked = outcome.picks
    if picked is not None:
        choices = _with_named(ticket, [Choice(p.name, p.why, p.instructions, p.after) for p in picked])
    else:
        choices = [
            replace(c, after=_uses_order(workspace, ticket, c.repo, found))
            for c in planner(ticket, workspace, found)
        ]
    if not choices:
        raise StepError(
            f"{ticket_id}: plan: no repo matches; name them in the ticket's front matter (repos: [...])"
        )
    by_name = {c.repo: c for c in choices}
    choices = [by_name[r] for r in planners.order({c.repo: c.after for c in choices})]
    # repos whose code a gate runs against (`uses:`) without the ticket changing them: pinned too
    chosen = {c.repo for c in choices}
    used = sorted(
        {u for c in choices for g in workspace.settings(ticket, c.repo).gates for u in g.uses} - chosen
    )
    with ThreadPoolExecutor(FETCH_JOBS) as pool:
        uses = {repo: pinned[1] for repo, pinned in zip(used, pool.map(pin, used), strict=True)}
    repos = tuple(_entry(workspace, ticket, c, *pins[c.repo]) for c in choices)
    write(target, Plan(ticket=ticket_id, repos=repos, uses=uses, **who))


def _with_named(ticket: Ticket, choices: list[Choice]) -> list[Choice]:
    """A repo the ticket names is in the plan, whatever the planner said."""
    missing = [r for r in ticket.repos or () if r not in {c.repo for c in choices}]
    return choices + [Choice(repo, "named in the ticket") for repo in missing]


def _uses_order(
    workspace: Workspace, ticket: Ticket, repo: str, candidates: Mapping[str, object]
) -> tuple[str, ...]:
    """The deterministic planner's order: a repo comes after those its gates use."""
    return tuple(
        dict.fromkeys(u for g in workspace.settings(ticket, repo).gates for u in g.uses if u in candidates)
    )


def _entry(workspace: Workspace, ticket: Ticket, choice: Choice, branch: str, base: str) -> Entry:
    spec = workspace.repos[choice.repo]
    chosen = set(ticket.skills) | set(spec.skills)
    wanted = [s for s in workspace.skills.values() if s.applies_to and s.name not in chosen]
    if wanted:
        files = git.files_at(workspace.paths.mirror(choice.repo), base)
        chosen |= {s.name for s in wanted if s.applies(choice.repo, files)}
    return Entry(
        name=choice.repo,
        base=base,
        default_branch=branch,  # what later steps target: read from the plan, never the remote again
        reason=choice.reason,
        skills=tuple(sorted(chosen)),
        instructions=choice.instructions,
        after=choice.after,
    )


def write(target: Path, plan: Plan) -> None:
    write_atomic(target, plan.model_dump_json(indent=2) + "\n")


def read(paths: Paths, ticket_id: str) -> Plan | None:
    """The ticket's plan.json, or None before it exists. Every step of a ticket asks for it: it is
    parsed once per version of the file, not once per repo."""
    target = paths.plan(ticket_id)
    try:
        stat = target.stat()
    except FileNotFoundError:
        return None
    return _parsed(target, stat.st_mtime_ns, stat.st_size, stat.st_ino)


@lru_cache(maxsize=32)
def _parsed(target: Path, mtime_ns: int, size: int, inode: int) -> Plan:
    return Plan.model_validate_json(target.read_bytes())


def load(workspace: Workspace, ticket_id: str) -> Plan | None:
    """The ticket's plan; None before it exists, or while it names a repo or skill the workspace
    no longer has (the plan step reruns first and makes a new one)."""
    plan = read(workspace.paths, ticket_id)
    if plan is None:
        return None
    known = all(e.name in workspace.repos and set(e.skills) <= workspace.skills.keys() for e in plan.repos)
    return plan if known else None
