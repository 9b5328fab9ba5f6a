"""The doit task graph, built from an explicit workspace: what each step reads and writes. The
work is in the stage modules; `dodo()` is what dodo.py hands doit.

ticket:ID -> plan:ID -> prompt:ID/REPO -> patch:ID/REPO -> gate:ID/REPO/GATE -> mr:ID/REPO
                                                                           -> ship:ID
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from doit import create_after, get_var
from doit.exceptions import InvalidDodoFile, TaskFailed
from doit.tools import config_changed

from pipelines import (
    checks,
    config,
    diffs,
    guard,
    intake,
    landing,
    merge_requests,
    pages,
    patches,
    plan,
    planner,
    prompts,
    prune,
    refresh,
    retries,
    serve,
    ship,
    status,
    templates,
    tickets,
    worktrees,
)
from pipelines.change import Change, resolve
from pipelines.config import Workspace
from pipelines.errors import InputError, StepError
from pipelines.evals import results, scenarios
from pipelines.files import write_atomic
from pipelines.gates import review
from pipelines.reporter import STEPS, ShipReporter

Task = dict[str, Any]

# What `doit list` says of each kind of task.
KINDS = {
    "ticket": "Normalise tickets/ID.md into state/ID/ticket.json.",
    "plan": "Choose the ticket's repos and pin each one's base commit: state/ID/plan.json.",
    "prompt": "Write exactly what the repo's agent is told: state/ID/REPO/prompt.md.",
    "patch": "Run the agent in a fresh worktree at the base; its diff is state/ID/REPO/patch.diff.",
    "gate": "Check the patch with one gate on base + patch: state/ID/REPO/gates/GATE.json.",
    "mr": "Commit the patch on its base, push the branch, open or update the merge request.",
    "ship": "Per planned repo: prompt, patch, gates and merge request; then link them and report.",
}


class Graph:
    """The task creators of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.paths = workspace.paths

    def _rel(self, path: Path) -> str:
        return self.paths.relative(path)

    @staticmethod
    def _step(work: Callable[[], None], record: Path | None = None) -> Callable[[], TaskFailed | None]:
        """A doit action running one step: a failure is one line, not a traceback (kept in
        `record`, when given, for report.md to say why; the reporter points at report.md)."""

        def action() -> TaskFailed | None:
            try:
                work()
            except StepError as err:
                if record is not None:
                    write_atomic(record, f"{err}\n")
                return TaskFailed(str(err))
            if record is not None:
                record.unlink(missing_ok=True)
            return None

        return action

    def ticket(self) -> Iterator[Task]:
        for ticket in self.workspace.open_tickets():
            source, target = self.paths.ticket_file(ticket.id), self.paths.ticket_json(ticket.id)
            yield {
                "name": ticket.id,
                "doc": KINDS["ticket"],
                "actions": [(tickets.write, [source, self.paths.root, target])],
                "file_dep": [self._rel(source)],
                "targets": [self._rel(target)],
                "clean": True,
            }

    def plan(self) -> Iterator[Task]:
        workspace = self.workspace
        inputs = {
            "repos": {
                name: [spec.url, spec.default_branch, spec.description, list(spec.skills)]
                for name, spec in workspace.repos.items()
            },
            "skills": {
                name: skill.applies_to.model_dump() if skill.applies_to else None
                for name, skill in workspace.skills.items()
            },
        }
        for ticket in workspace.open_tickets():
            pinned = Pinned()

            def make(ticket_id: str = ticket.id, pinned: Pinned = pinned) -> None:
                plan.make(workspace, ticket_id, repin=not pinned.kept)

            agent = workspace.planner(ticket)
            asks = [] if agent is None else [planner.SKILL, *map(templates.path, planner.TEMPLATES)]
            yield {
                "name": ticket.id,
                "doc": KINDS["plan"],
                "actions": [self._step(make), lambda: {"pinned": True}],
                "file_dep": [self._rel(self.paths.ticket_json(ticket.id)), *map(str, asks)],
                "targets": [self._rel(self.paths.plan(ticket.id))],
                "uptodate": [
                    config_changed({**inputs, "planner": agent.model_dump(mode="json") if agent else None}),
                    pinned,
                ],
                "clean": True,
            }

    def ship(self) -> Iterator[Task]:
        if not self.workspace.open_tickets():
            said = f"nothing to ship: {self._rel(self.paths.tickets)}/ has no open ticket"
            yield {"basename": "ship", "actions": [lambda: print(said)], "verbosity": 2}
            return
        for ticket in self.workspace.open_tickets():
            planned = plan.load(self.workspace, ticket.id)
            if planned is None:
                continue
            changes = [resolve(self.workspace, planned, repo) for repo in planned.order]
            order = frozenset(planned.order)
            for change in changes:
                yield from self._repo(change, order)
            yield self._ship(ticket.id, changes)
        yield self._index()

    def _index(self) -> Task:
        """state/index.html, drawn again when what it shows changed: a ticket's ship.json or
        report.md, the open tickets and their titles, its templates."""
        paths, tickets = self.paths, self.workspace.open_tickets()
        planned = [t.id for t in tickets if paths.plan(t.id).exists()]
        deps = [str(templates.path(name)) for name in (*pages.SHARED, pages.INDEX)]
        deps += [self._rel(f(tid)) for tid in planned for f in (paths.ship_json, paths.report)]
        return {
            "basename": "ship",
            "name": "index",
            "doc": "Draw state/index.html: every open ticket × repo, its state and cost.",
            "actions": [self._step(lambda: pages.write_index(self.workspace))],
            "file_dep": deps,
            "targets": [self._rel(pages.index_path(paths))],
            "uptodate": [config_changed({t.id: t.title for t in tickets})],
            "clean": True,
        }

    def _repo(self, change: Change, planned: frozenset[str]) -> Iterator[Task]:
        paths, tid, repo, settings = self.paths, change.ticket_id, change.repo, change.settings
        name = change.name
        prompt, patch = self._rel(paths.prompt(tid, repo)), self._rel(paths.patch(tid, repo))
        yield {
            "basename": "prompt",
            "name": name,
            "doc": KINDS["prompt"],
            "actions": [self._step(lambda: prompts.make(change))],
            "file_dep": [
                self._rel(paths.plan(tid)),  # the prompt names the ticket's other repos
                self._rel(paths.ticket_json(tid)),
                *(self._rel(self.workspace.skills[s].path) for s in change.entry.skills),
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
            "doc": KINDS["patch"],
            "actions": [self._step(lambda: patches.make(change), paths.step_error(tid, repo, "patch"))],
            "file_dep": [self._rel(p) for p in patches.inputs(change)],
            "targets": [
                patch,
                self._rel(paths.agent_json(tid, repo)),
                self._rel(paths.transcript(tid, repo)),
                self._rel(paths.guard_log(tid, repo)),
            ],
            "uptodate": [
                config_changed(
                    {
                        "agent": patches.agent_settings(change),
                        "protect": settings.spec.protect,
                        "allow_config": change.ticket.allow_config,
                    }
                )  # fmt: skip
            ],
            "clean": True,
        }
        reports = []
        for gate in settings.gates:
            report = self._rel(paths.gate_report(tid, repo, gate.name))
            reports.append(report)
            used = checks.used_repos(gate, planned)
            yield {
                "basename": "gate",
                "name": f"{name}/{gate.name}",
                "doc": KINDS["gate"],
                "actions": [self._step(lambda gate=gate: checks.run(change, gate.name))],
                "file_dep": [
                    patch,
                    *(self._rel(paths.patch(tid, r)) for r in used),
                    *(
                        self._rel(p) if p.is_relative_to(self.paths.root) else str(p)
                        for p in checks.inputs(change, gate)
                    ),
                ],
                "targets": [report, self._rel(paths.gate_log(tid, repo, gate.name))],
                "uptodate": [config_changed(checks.settings(change, gate))],
                "clean": True,
            }
        record = paths.step_error(tid, repo, "mr")
        yield {
            "basename": "mr",
            "name": name,
            "doc": KINDS["mr"],
            "actions": [self._step(lambda: merge_requests.make(change), record)],
            "file_dep": [
                patch,
                self._rel(paths.ticket_json(tid)),
                *reports,
                str(templates.path(merge_requests.TEMPLATE)),
            ],
            "targets": [self._rel(paths.mr_json(tid, repo))],
            "uptodate": [
                config_changed(
                    {
                        "forge": settings.forge.model_dump(mode="json"),
                        "prefix": settings.branch_prefix,
                        "title": change.ticket.title,
                        "base": change.base,
                        "default_branch": change.entry.default_branch,
                    }
                )
            ],
            "clean": True,
        }

    def _ship(self, tid: str, changes: Sequence[Change]) -> Task:
        paths = self.paths
        deps = [
            self._rel(paths.plan(tid)),
            str(templates.path(ship.TEMPLATE)),
            str(templates.path(merge_requests.LINKS_TEMPLATE)),
            *(str(templates.path(name)) for name in (*pages.SHARED, pages.REPORT)),
        ]
        for change in changes:
            deps.append(self._rel(paths.patch(tid, change.repo)))  # report.md shows it
            deps.append(self._rel(paths.mr_json(tid, change.repo)))
            deps += [self._rel(paths.gate_report(tid, change.repo, g.name)) for g in change.settings.gates]
        return {
            "basename": "ship",
            "name": tid,
            "doc": f"Link {tid}'s merge requests to each other; write ship.json and report.md.",
            "actions": [
                self._step(lambda: pages.write_report(self.workspace, tid, ship.make(self.workspace, tid)))
            ],
            "file_dep": deps,
            "targets": [
                self._rel(paths.ship_json(tid)),
                self._rel(paths.report(tid)),
                self._rel(pages.report_path(paths, tid)),
            ],
            "clean": True,
        }

    def status(self) -> Iterator[Task]:
        planned = [t for t in self.workspace.open_tickets() if plan.load(self.workspace, t.id)]
        if not planned:
            said = "nothing to report: no open ticket has a plan yet (doit ship plans them)"
            yield {"basename": "status", "actions": [lambda: print(said)], "verbosity": 2}
        for ticket in planned:
            yield {
                "name": ticket.id,
                "doc": "Say where each repo of the ticket stands, with its merge request's checks.",
                "actions": [self._step(lambda tid=ticket.id: status.make(self.workspace, tid))],
                "uptodate": [False],
                "verbosity": 2,
            }

    def diff(self) -> Iterator[Task]:
        for ticket in self.workspace.open_tickets():  # a ticket with no plan yet says so
            yield {
                "name": ticket.id,
                "doc": "Print the ticket's change: each repo's patch.diff, in plan order.",
                "actions": [self._step(lambda tid=ticket.id: diffs.show(self.workspace, tid))],
                "uptodate": [False],
                "verbosity": 2,
            }
        if not self.workspace.open_tickets():
            yield {
                "basename": "diff",
                "actions": [lambda: print("no open ticket: nothing to show")],
                "verbosity": 2,
            }

    def env(self) -> Iterator[Task]:
        for repo in self.workspace.repos:
            yield {
                "name": repo,
                "doc": f"Build {repo}'s own environment at the tip of its default branch.",
                "actions": [self._step(lambda repo=repo: worktrees.build_env(self.workspace, repo))],
                "uptodate": [False],
                "verbosity": 2,
            }

    def evals(self) -> Iterator[Task]:
        """One task per eval scenario, and the report of them all: doit eval, doit eval:SUITE/NAME."""
        mode = results.Mode(
            live=bool(get_var("live")), record=bool(get_var("record")),
            trials=int(get_var("trials")) if get_var("trials") else None,
            compare_skills=get_var("compare") == "skills",
        )  # fmt: skip
        found = scenarios.discover(self.paths.root)
        guard_files = sorted(str(p) for p in Path(guard.__file__).parent.glob("*.py"))
        asks = (prompts.TEMPLATE, patches.REPAIR_TEMPLATE, review.TEMPLATE, *planner.TEMPLATES)
        targets = []
        for key, (path, suite) in found.items():
            target = results.folder(self.workspace, key) / "result.json"
            targets.append(self._rel(target))
            try:
                scenario = scenarios.load(path, suite, self.paths.root)
            except InputError as err:
                yield {"basename": "eval", "name": key, "actions": [lambda err=err: TaskFailed(str(err))]}
                continue
            inputs = [path, *scenarios.fixtures(path).values()]
            if isinstance(scenario.fixture, str):  # a repo at a commit is pinned by the scenario itself
                inputs += sorted(p for p in (path.parent / scenario.fixture).rglob("*") if p.is_file())
            inputs += [f for name in scenario.skills for f in self.workspace.skills[name].files()]
            yield {
                "basename": "eval",
                "name": key,
                "doc": scenario.checks,
                "actions": [self._step(lambda key=key: results.make(self.workspace, key, mode))],
                "file_dep": [self._rel(p) for p in inputs]
                + [str(templates.path(name)) for name in asks]
                + guard_files,
                "targets": [self._rel(target)],
                "uptodate": [config_changed(repr(mode))],
                "clean": True,
            }
        yield {
            "basename": "eval",
            "name": "report",
            "doc": "Write state/evals/report.md and print it: per scenario and per suite.",
            "actions": [self._step(lambda: results.report(self.workspace, list(found)))],
            "file_dep": targets,
            "uptodate": [False],
            "verbosity": 2,
        }

    def land(self) -> Iterator[Task]:
        """Per planned repo, in plan order: merge its merge request; then the ticket is landed."""
        found = False
        for ticket in self.workspace.open_tickets():
            planned = plan.load(self.workspace, ticket.id)
            if planned is None:
                continue
            found, names = True, []
            for repo in planned.order:
                change = resolve(self.workspace, planned, repo)
                names.append(f"land:{change.name}")
                gates = [
                    self._rel(self.paths.gate_report(ticket.id, repo, g.name)) for g in change.settings.gates
                ]
                yield {
                    "basename": "land",
                    "name": change.name,
                    "doc": "Merge the repo's merge request, bound to the commit shipyard pushed.",
                    "actions": [
                        self._step(
                            lambda change=change: landing.make(change),
                            self.paths.step_error(ticket.id, repo, "land"),
                        )
                    ],
                    # what exists of it: a repo with no merge request yet says so when asked to land
                    "file_dep": [
                        self._rel(p)
                        for p in (self.paths.mr_json(ticket.id, repo), *map(self.paths.root.joinpath, gates))
                        if p.exists()
                    ],
                    "task_dep": [f"land:{ticket.id}/{a}" for a in change.entry.after],
                    "targets": [self._rel(self.paths.repo_dir(ticket.id, repo) / "land.json")],
                }
            yield {
                "basename": "land",
                "name": ticket.id,
                "doc": f"Land {ticket.id}: every repo in order, then `status: landed` in its ticket.",
                "actions": [self._step(lambda tid=ticket.id: landing.finish(self.workspace, tid))],
                "task_dep": names,
                "uptodate": [False],
            }
        if not found:
            said = "nothing to land: no open ticket has a plan"
            yield {"basename": "land", "actions": [lambda: print(said)], "verbosity": 2}

    def refresh(self) -> Iterator[Task]:
        for ticket in self.workspace.open_tickets():
            if plan.load(self.workspace, ticket.id) is not None:
                yield {
                    "name": ticket.id,
                    "doc": "Re-pin the ticket's bases at the branch tips and re-apply its patches three-way.",
                    "actions": [self._step(lambda tid=ticket.id: refresh.make(self.workspace, tid))],
                    "uptodate": [False],
                    "verbosity": 2,
                }

    def intake(self) -> Task:
        def action() -> TaskFailed | None:
            url = get_var("url")
            if not url:
                return TaskFailed(
                    "intake: give the issue's URL: doit intake url=https://github.com/o/r/issues/42"
                )
            try:
                intake.write(self.paths.root, url, get_var("token_env"))
            except StepError as err:
                return TaskFailed(str(err))
            return None

        return {"actions": [action], "uptodate": [False], "verbosity": 2}

    def prune(self) -> Task:
        def work() -> None:
            prune.make(self.workspace, remove=(get_var("yes") or "").lower() in prune.YES)

        # under state/.lock like every task: no ship is writing what it removes
        return {"actions": [self._step(work)], "uptodate": [False], "verbosity": 2}

    def serve(self) -> Task:
        def work() -> None:
            port = get_var("port") or "8765"
            if not port.isdigit() or int(port) > 65535:
                raise StepError(f"serve: port={port}: expected a port number, 0 for any free one")
            serve.run(self.paths, int(port))

        # no state/.lock (doitdb.READ_ONLY): it reads state/ while a ship writes it
        return {"actions": [self._step(work)], "uptodate": [False], "verbosity": 2}


def with_group_docs(tasks: Iterable[Task]) -> Iterator[Task]:
    """`tasks`, each kind's group declared with its own doc before its first task: doit would give
    the groups of prompt, patch, gate and mr the doc of the creator that makes them, task_ship's."""
    declared: set[str] = set()
    for task in tasks:
        kind = task.get("basename")
        if kind in KINDS and kind not in declared and task.get("name") is not None:
            declared.add(kind)
            yield {"basename": kind, "name": None, "doc": KINDS[kind]}
        yield task


class Pinned:
    """An `uptodate` check of the plan task that decides nothing: it notes whether doit kept the
    task's values. doit keeps none for a plan it never made or was told to forget, and only then
    do pinned bases move to the branch tips."""

    def __init__(self) -> None:
        self.kept = False

    def __call__(self, task: Any, values: dict[str, Any]) -> None:
        self.kept = bool(values.get("pinned"))


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


def creators(workspace: Workspace, argv: Sequence[str] = ()) -> dict[str, Any]:
    """DOIT_CONFIG and one task creator per kind of task, for doit to load as dodo.py's names.
    `argv` is the command line doit runs with: it decides when the per-repo tasks are made."""
    graph = Graph(workspace)

    def task_ticket() -> Iterator[Task]:
        yield from graph.ticket()

    def task_plan() -> Iterator[Task]:
        yield from graph.plan()

    def task_ship() -> Iterator[Task]:
        yield from with_group_docs(graph.ship())

    def task_status() -> Iterator[Task]:
        yield from graph.status()

    def task_env() -> Iterator[Task]:
        yield from graph.env()

    def task_diff() -> Iterator[Task]:
        yield from graph.diff()

    def task_intake() -> Task:
        return graph.intake()

    def task_eval() -> Iterator[Task]:
        yield from graph.evals()

    def task_land() -> Iterator[Task]:
        yield from graph.land()

    def task_refresh() -> Iterator[Task]:
        yield from graph.refresh()

    def task_prune() -> Task:
        return graph.prune()

    def task_serve() -> Task:
        return graph.serve()

    task_ticket.__doc__, task_plan.__doc__, task_ship.__doc__ = KINDS["ticket"], KINDS["plan"], KINDS["ship"]
    task_status.__doc__ = "Read each merge request's state and checks back from its forge: doit status"
    task_diff.__doc__ = "Print a ticket's change across its repos (colour on a terminal): doit diff:ID"
    task_env.__doc__ = "Build a repo's own environment at the tip of its default branch: doit env:REPO"
    task_refresh.__doc__ = "Move a ticket onto its repos' branch tips: doit refresh:ID, then doit ship"
    task_land.__doc__ = "Merge a shipped ticket's merge requests in plan order: doit land:ID"
    task_prune.__doc__ = "List state/ of deleted tickets and dropped repos; doit prune yes=1 removes it"
    task_serve.__doc__ = "Serve state/'s pages on 127.0.0.1, live while a ship runs: doit serve port=8765"
    task_eval.__doc__ = (
        "Evaluate the agent's behaviour: doit eval (replay), live=1 trials=K record=1 compare=skills"
    )
    task_intake.__doc__ = (
        "Write tickets/<ID>.md from an issue: doit intake url=https://github.com/o/r/issues/42"
    )
    if not COMMANDS_THAT_RUN_NOTHING & set(argv[1:]):
        task_ship = create_after(executed=waits_for(argv), creates=["prompt", "patch", "gate", "mr", "ship"])(
            task_ship
        )
    return {
        "DOIT_CONFIG": {
            "dep_file": "state/.doit.db",
            "backend": "shipyard-sqlite",
            "default_tasks": ["ship"],
            "continue": True,
            # steps wait on git, agents and forges, not on Python: threads run repos side by side
            "num_process": 4,
            "par_type": "thread",
            "reporter": ShipReporter.bound(workspace),
        },
        "task_ticket": task_ticket,
        "task_plan": task_plan,
        "task_ship": task_ship,
        "task_status": task_status,
        "task_env": task_env,
        "task_diff": task_diff,
        "task_intake": task_intake,
        "task_eval": task_eval,
        "task_land": task_land,
        "task_refresh": task_refresh,
        "task_prune": task_prune,
        "task_serve": task_serve,
    }


def dodo(root: Path | None = None, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """What dodo.py gives doit: the workspace in `root` (doit's working folder) loaded, the command
    line checked, Ctrl-C made to stop at once, and the creators. Bad input stops here, as one line,
    before doit opens state/."""
    argv = sys.argv if argv is None else argv
    try:
        workspace = config.load(Path.cwd() if root is None else root)
    except InputError as err:
        raise InvalidDodoFile(str(err)) from None
    if (wrong := asked_for_nothing(workspace, argv)) is not None:
        raise InvalidDodoFile(wrong)
    if cleans_everything(argv):
        raise InvalidDodoFile(
            "doit clean without a task would throw away every ticket's agent runs: name what to clean "
            "(doit clean patch:T-42/billing), or say so with doit clean --all"
        )
    for ticket, repo in released(workspace, argv):
        retries.release(workspace.paths, ticket, repo)
    for held in forgotten_gates(workspace, argv):
        held.unlink(missing_ok=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupted)
    return creators(workspace, argv)


def waits_for(argv: Sequence[str]) -> str:
    """The plan task to run before the per-repo tasks exist: one ticket's when only it is asked for."""
    named = [a for a in argv[1:] if a.split(":")[0] in STEPS]
    tickets = {a.partition(":")[2].split("/")[0] for a in named}
    return f"plan:{tickets.pop()}" if len(tickets) == 1 and "" not in tickets else "plan"


def asked_for_nothing(workspace: Workspace, argv: Sequence[str]) -> str | None:
    """What is wrong with a task name asked for (`patch:EX-1/textkt`), or None: doit would run
    nothing and say nothing, or fail on a task that depends on it."""
    for name in argv[1:]:
        basename, _, rest = name.partition(":")
        if basename not in (*STEPS, "env", "diff") or not rest:
            continue
        if basename == "env":
            if rest not in workspace.repos:
                return f"{name}: no repo {rest!r}; repos.yaml has: {', '.join(workspace.repos)}"
            continue
        ticket, _, tail = rest.partition("/")
        if ticket not in workspace.tickets:
            return f"{name}: no ticket {ticket!r}; tickets/ has: {', '.join(workspace.tickets) or 'none'}"
        if basename == "diff" and tail:
            return f"{name}: diff shows a whole ticket: doit diff:{ticket}"
        repo, _, gate = tail.partition("/")
        planned = plan.load(workspace, ticket)
        if repo and repo not in workspace.repos:
            return f"{name}: no repo {repo!r}; repos.yaml has: {', '.join(workspace.repos)}"
        if repo and planned and repo not in planned.order:
            return f"{name}: {ticket} does not change {repo}; its plan has: {', '.join(planned.order)}"
        gates_of = [g.name for g in workspace.settings(workspace.tickets[ticket], repo).gates] if repo else []
        if gate and gate not in gates_of:
            return f"{name}: {repo} has no gate {gate!r}; its gates: {', '.join(gates_of)}"
    return None


def released(workspace: Workspace, argv: Sequence[str]) -> list[tuple[str, str]]:
    """The (ticket, repo) pairs whose failed agent run `doit forget` or `doit clean` lets run
    again: those of the patch tasks it names, or every one for `patch` (all patch tasks) or --all.
    doit cannot tell a forgotten task from a failed one; retries.py keeps the difference on disk."""
    if len(argv) < 2 or argv[1] not in ("forget", "clean"):
        return []
    names = argv[2:]
    if "patch" in names or {"-a", "--all"} & set(names):
        return list(retries.every_held(workspace.paths))
    asked = [name.removeprefix("patch:").partition("/") for name in names if name.startswith("patch:")]
    return [(ticket, repo) for ticket, _, repo in asked if ticket and repo]


def forgotten_gates(workspace: Workspace, argv: Sequence[str]) -> list[Path]:
    """The failed verdicts `doit forget` or `doit clean` drops, so those gates run again: of the
    gate tasks it names (`gate:T-1/lib/ruff`, `gate:T-1/lib` for a repo's), or all (`gate`, --all)."""
    if len(argv) < 2 or argv[1] not in ("forget", "clean"):
        return []
    every = sorted(workspace.paths.state.glob("*/*/gates/*.failed")) if workspace.paths.state.is_dir() else []
    names = argv[2:]
    if "gate" in names or {"-a", "--all"} & set(names):
        return every
    asked = [name.removeprefix("gate:") for name in names if name.startswith("gate:")]
    held = {p: f"{p.parents[2].name}/{p.parents[1].name}/{p.stem}" for p in every}
    return [p for p, name in held.items() if any(name == a or name.startswith(f"{a}/") for a in asked)]


def cleans_everything(argv: Sequence[str]) -> bool:
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
