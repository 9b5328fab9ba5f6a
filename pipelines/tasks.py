"""The doit task creators: what each step reads and writes. The work is in the stage modules.

ticket:ID -> plan:ID -> prompt:ID/REPO -> patch:ID/REPO -> gate:ID/REPO/GATE -> mr:ID/REPO
                                                                           -> ship:ID
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from doit import get_var
from doit.exceptions import InvalidDodoFile, TaskFailed
from doit.globals import Globals
from doit.loader import DelayedLoader
from doit.tools import config_changed

from pipelines import (
    config,
    gates,
    intake,
    merge_requests,
    patches,
    plan,
    prompts,
    ship,
    status,
    templates,
    tickets,
    worktrees,
)
from pipelines.errors import InputError, StepError
from pipelines.files import write_atomic
from pipelines.reporter import ShipReporter

__all__ = ["DOIT_CONFIG", "task_env", "task_intake", "task_plan", "task_ship", "task_status", "task_ticket"]

ROOT = Path.cwd()  # doit runs in the folder of the dodo.py it loads
try:
    WORKSPACE = config.load(ROOT)  # bad input stops here, before doit opens state/
except InputError as err:
    raise InvalidDodoFile(str(err)) from None
PATHS = WORKSPACE.paths

DOIT_CONFIG = {
    "dep_file": "state/.doit.db",
    "backend": "shipyard-sqlite",
    "default_tasks": ["ship"],
    "continue": True,
    # steps wait on git, agents and forges, not on Python: threads run repos side by side
    "num_process": 4,
    "par_type": "thread",
    "reporter": ShipReporter,
}
Task = dict[str, Any]


def _rel(path: Path) -> str:
    return PATHS.relative(path)


def _step(
    work: Callable[..., None], *args: Any, record: Path | None = None
) -> Callable[[], TaskFailed | None]:
    """A doit action running one step; its failure is one line, not a traceback (and is kept in
    `record`, when given, for report.md)."""

    def action() -> TaskFailed | None:
        try:
            work(WORKSPACE, *args)
        except StepError as err:
            if record is not None:
                write_atomic(record, f"{err}\n")
            return TaskFailed(f"{err} (see {_rel(PATHS.report(args[0]))})" if record else str(err))
        if record is not None:
            record.unlink(missing_ok=True)
        return None

    return action


def task_ticket() -> Iterator[Task]:
    """Normalise tickets/ID.md into state/ID/ticket.json."""
    for ticket in WORKSPACE.open_tickets():
        yield {
            "name": ticket.id,
            "actions": [(tickets.write, [PATHS.ticket_file(ticket.id), ROOT, PATHS.ticket_json(ticket.id)])],
            "file_dep": [_rel(PATHS.ticket_file(ticket.id))],
            "targets": [_rel(PATHS.ticket_json(ticket.id))],
            "clean": True,
        }


def task_plan() -> Iterator[Task]:
    """Choose the ticket's repos and pin each one's base commit."""
    inputs = {
        "repos": {
            name: [spec.url, spec.default_branch, spec.description, list(spec.skills)]
            for name, spec in WORKSPACE.repos.items()
        },
        "skills": {
            name: skill.applies_to.model_dump() if skill.applies_to else None
            for name, skill in WORKSPACE.skills.items()
        },
    }
    for ticket in WORKSPACE.open_tickets():

        def action(task: Any, ticket_id: str = ticket.id) -> dict[str, bool] | TaskFailed:
            # doit keeps no values for a task it never ran or was told to forget: only then
            # do pinned bases move to the branch tips
            repin = not Globals.dep_manager.get_values(task.name)
            failed = _step(plan.make, ticket_id, repin)()
            return failed or {"pinned": True}

        yield {
            "name": ticket.id,
            "actions": [action],
            "file_dep": [_rel(PATHS.ticket_json(ticket.id))],
            "targets": [_rel(PATHS.plan(ticket.id))],
            "uptodate": [config_changed(inputs)],
            "clean": True,
        }


def task_ship() -> Iterator[Task]:
    """Per planned repo: prompt, patch, gates and merge request; then the ticket's summary."""
    for ticket in WORKSPACE.open_tickets():
        planned = plan.load(WORKSPACE, ticket.id)
        for entry in planned:
            yield from _repo_tasks(ticket, entry, [r["name"] for r in planned])
        if planned:
            yield _ship_task(ticket, planned)


def _repo_tasks(ticket: tickets.Ticket, entry: dict[str, Any], order: list[str]) -> Iterator[Task]:
    repo, tid = entry["name"], ticket.id
    settings = WORKSPACE.settings(ticket, repo)
    name = f"{tid}/{repo}"
    prompt, patch = _rel(PATHS.prompt(tid, repo)), _rel(PATHS.patch(tid, repo))
    yield {
        "basename": "prompt",
        "name": name,
        "actions": [_step(prompts.make, tid, repo)],
        "file_dep": [
            _rel(PATHS.plan(tid)),
            _rel(PATHS.ticket_json(tid)),
            *(_rel(WORKSPACE.skills[s].path) for s in entry["skills"]),
            str(templates.path(prompts.TEMPLATE)),
        ],
        "targets": [prompt],
        "uptodate": [
            config_changed(
                {
                    "description": settings.spec.description,
                    "gates": [g.name for g in settings.gates],
                    "env": prompts.in_env(settings),
                    "skills_dir": prompts.skills_dir(settings.agent.kind),
                }
            )
        ],
        "clean": True,
    }
    yield {
        "basename": "patch",
        "name": name,
        "actions": [_step(patches.make, tid, repo)],
        "file_dep": [_rel(p) for p in patches.inputs(WORKSPACE, tid, repo, entry["skills"])],
        "targets": [
            patch,
            _rel(PATHS.agent_json(tid, repo)),
            _rel(PATHS.transcript(tid, repo)),
            _rel(PATHS.guard_log(tid, repo)),
        ],
        "uptodate": [
            config_changed({"agent": settings.agent.model_dump(), "protect": settings.spec.protect})
        ],
        "clean": True,
    }
    reports = []
    pinned = plan.uses(WORKSPACE, tid)
    for gate in settings.gates:
        report = _rel(PATHS.gate_report(tid, repo, gate.name))
        reports.append(report)
        yield {
            "basename": "gate",
            "name": f"{name}/{gate.name}",
            "actions": [_step(gates.run, tid, repo, gate.name)],
            "file_dep": [patch, *(_rel(PATHS.patch(tid, r)) for r in gates.used_repos(gate, order))],
            "targets": [report, _rel(PATHS.gate_log(tid, repo, gate.name))],
            "uptodate": [
                config_changed(
                    {
                        "gate": gate.model_dump(),
                        "version": gates.version(gate),
                        "base": entry["base"],
                        "env": _dumped(settings.env),
                        "uses": {u: pinned[u] for u in gate.uses if u in pinned},
                    }
                )
            ],
            "clean": True,
        }
    yield {
        "basename": "mr",
        "name": name,
        "actions": [_step(merge_requests.make, tid, repo, record=PATHS.step_error(tid, repo, "mr"))],
        "file_dep": [
            patch,
            _rel(PATHS.ticket_json(tid)),
            *reports,
            str(templates.path(merge_requests.TEMPLATE)),
        ],
        "targets": [_rel(PATHS.mr_json(tid, repo))],
        "uptodate": [
            config_changed(
                {
                    "forge": settings.forge.model_dump(),
                    "prefix": settings.branch_prefix,
                    "title": ticket.title,
                    "base": entry["base"],
                    "order": order,
                }
            )
        ],
        "clean": True,
    }


def _ship_task(ticket: tickets.Ticket, planned: list[dict[str, Any]]) -> Task:
    tid = ticket.id
    deps = [_rel(PATHS.plan(tid)), str(templates.path(ship.TEMPLATE))]
    for entry in planned:
        repo = entry["name"]
        deps.append(_rel(PATHS.mr_json(tid, repo)))
        deps += [_rel(PATHS.gate_report(tid, repo, g.name)) for g in WORKSPACE.settings(ticket, repo).gates]
    return {
        "basename": "ship",
        "name": tid,
        "actions": [_step(ship.make, tid)],
        "file_dep": deps,
        "targets": [_rel(PATHS.ship_json(tid)), _rel(PATHS.report(tid))],
        "clean": True,
    }


def task_status() -> Iterator[Task]:
    """Read each merge request's state and checks back from its forge (state/ID/status.json)."""
    for ticket in WORKSPACE.open_tickets():
        if any(PATHS.mr_json(ticket.id, r["name"]).exists() for r in plan.load(WORKSPACE, ticket.id)):
            yield {"name": ticket.id, "actions": [_step(status.make, ticket.id)], "uptodate": [False],
                   "verbosity": 2}  # fmt: skip


def task_env() -> Iterator[Task]:
    """Build a repo's own environment at the tip of its default branch: doit env:REPO"""
    for repo in WORKSPACE.repos:
        yield {
            "name": repo,
            "actions": [_step(worktrees.build_env, repo)],
            "uptodate": [False],
            "verbosity": 2,
        }


def task_intake() -> Task:
    """Write tickets/<ID>.md from an issue: doit intake url=https://github.com/o/r/issues/42"""

    def action() -> TaskFailed | None:
        url = get_var("url")
        if not url:
            return TaskFailed(
                "intake: give the issue's URL: doit intake url=https://github.com/o/r/issues/42"
            )
        try:
            intake.write(ROOT, url, get_var("token_env"))
        except StepError as err:
            return TaskFailed(str(err))
        return None

    return {"actions": [action], "uptodate": [False], "verbosity": 2}


# doit builds a delayed creator's tasks once the task it waits for has run, and only for commands
# that run tasks: `list`, `info`, `forget` and `clean` call the creator at load time instead
# (doit 0.37 would show them `creates=` placeholders, and `info` crashes on those).
COMMANDS_THAT_RUN_NOTHING = {
    "list",
    "info",
    "forget",
    "clean",
    "ignore",
    "dumpdb",
    "resetdep",
    "strace",
    "tabcompletion",
    "help",
}
BASENAMES = ("ticket", "plan", "prompt", "patch", "gate", "mr", "ship")


def waits_for(argv: list[str]) -> str:
    """The plan task to run before the per-repo tasks exist: one ticket's when only it is asked for."""
    named = [a for a in argv[1:] if a.split(":")[0] in BASENAMES]
    tickets = {a.partition(":")[2].split("/")[0] for a in named}
    return f"plan:{tickets.pop()}" if len(tickets) == 1 and "" not in tickets else "plan"


def asked_for_nothing(argv: list[str]) -> str | None:
    """What is wrong with a task name asked for (`patch:EX-1/textkt`), or None: doit would run
    nothing and say nothing, or fail on a task that depends on it."""
    for name in argv[1:]:
        basename, _, rest = name.partition(":")
        if basename not in (*BASENAMES, "env") or not rest:
            continue
        if basename == "env":
            if rest not in WORKSPACE.repos:
                return f"{name}: no repo {rest!r}; repos.yaml has: {', '.join(WORKSPACE.repos)}"
            continue
        ticket, _, tail = rest.partition("/")
        if ticket not in WORKSPACE.tickets:
            return f"{name}: no ticket {ticket!r}; tickets/ has: {', '.join(WORKSPACE.tickets) or 'none'}"
        repo, _, gate = tail.partition("/")
        planned = [r["name"] for r in plan.load(WORKSPACE, ticket)]
        if repo and repo not in WORKSPACE.repos:
            return f"{name}: no repo {repo!r}; repos.yaml has: {', '.join(WORKSPACE.repos)}"
        if repo and planned and repo not in planned:
            return f"{name}: {ticket} does not change {repo}; its plan has: {', '.join(planned)}"
        gates_of = [g.name for g in WORKSPACE.settings(WORKSPACE.tickets[ticket], repo).gates] if repo else []
        if gate and gate not in gates_of:
            return f"{name}: {repo} has no gate {gate!r}; its gates: {', '.join(gates_of)}"
    return None


def cleans_everything(argv: list[str]) -> bool:
    """Whether this is a bare `doit clean`: it would throw every ticket's agent runs away."""
    if len(argv) < 2 or argv[1] != "clean":
        return False
    return not [a for a in argv[2:] if not a.startswith("-")] and not {"-a", "--all"} & set(argv)


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C stops the run now, as a kill would: every finished step is saved already, and the
    sandboxes die with this process. (doit alone would let the running steps go on to the end.)"""
    print("\nshipyard: interrupted; `doit ship` again resumes where this run stopped", file=sys.stderr)
    sys.stdout.flush()
    os._exit(130)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _interrupted)

if (wrong := asked_for_nothing(sys.argv)) is not None:
    raise InvalidDodoFile(wrong)
if cleans_everything(sys.argv):
    raise InvalidDodoFile(
        "doit clean without a task would throw away every ticket's agent runs: name what to clean "
        "(doit clean patch:T-42/billing), or say so with doit clean --all"
    )

if not COMMANDS_THAT_RUN_NOTHING & set(sys.argv[1:]):
    task_ship.doit_create_after = DelayedLoader(  # type: ignore[attr-defined]
        task_ship, executed=waits_for(sys.argv), creates=["prompt", "patch", "gate", "mr", "ship"]
    )


def _dumped(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value
