"""Gates check a change deterministically. Each backend: `version()` and `check(gate, job)`;
`BASELINE = False` in one whose findings cannot be set against the base's.

The `gate:ID/REPO/GATE` step runs one gate in the repo's clean `verify/` tree and writes one
report, the same shape for every gate: status pass | fail | error (could not evaluate, never a
pass), findings (file, line, rule, message), the command and the tool's version.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pipelines import envs, git, plan, plugins, sandbox, worktrees
from pipelines.config import GateSpec, Workspace
from pipelines.errors import StepError
from pipelines.files import write_atomic, write_json
from pipelines.sandbox import Box


@dataclass(frozen=True)
class Finding:
    file: str
    line: int | None
    rule: str
    message: str


@dataclass(frozen=True)
class Report:
    status: str  # pass | fail | error | skipped (an empty patch: nothing to check)
    findings: tuple[Finding, ...] = ()  # what the change brings (all of them in strict mode)
    command: tuple[str, ...] = ()
    summary: str = ""
    log: str = field(default="", repr=False)
    pre_existing: tuple[Finding, ...] = ()  # found on the base commit too: they do not fail the gate
    env: str | None = None  # the key of the repo's env the gate ran in (None: shipyard's own Python)


@dataclass(frozen=True)
class GateJob:
    tree: Path
    changed: tuple[str, ...]  # files the patch adds or modifies, relative to the tree
    env: dict[str, str] = field(repr=False)
    box: Box  # the sandbox the gate's tool runs in
    mirror: Path | None = None  # the repo's mirror, which holds `base` (None: a plain folder)
    base: str | None = None
    python: str = sys.executable  # the repo env's interpreter, or shipyard's own (`env: none`)

    def run(self, argv: Sequence[str], timeout: float) -> tuple[int | None, bytes]:
        """Run the gate's tool in the tree, in the sandbox; (None, output) on a timeout."""
        return sandbox.run(argv, self.box, self.env, timeout)


def count(number: int, noun: str) -> str:
    """`1 finding`, `2 findings`: a number and its noun, as a person writes them."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def not_installed(tool: str) -> Report:
    return Report("error", summary=f"{tool} is not installed; pip install 'shipyard[gates]'")


def python_files(changed: Iterable[str]) -> list[str]:
    return [f for f in changed if f.endswith((".py", ".pyi"))]


def version(gate: GateSpec) -> str | None:
    return plugins.load("gates", gate.plugin).version(gate)


def check(
    workspace: Workspace, ticket_id: str, repo: str, gate: GateSpec, tree: Path, exclude: tuple[str, ...] = ()
) -> Report:
    """Run one gate on `tree` (verify/, or the agent's work/ between repair rounds), sandboxed, in
    the repo's env when the gate runs the repo's code."""
    planned = {r["name"]: r for r in plan.load(workspace, ticket_id)}
    pinned = plan.uses(workspace, ticket_id)
    used = []
    for other in gate.uses:
        if other in pinned:  # a repo the ticket does not change: at its pinned base
            used.append(worktrees.base_tree(workspace, other, pinned[other]))
        elif other in planned:  # the ticket changes it: with its patch
            if not workspace.paths.patch(ticket_id, other).exists():
                return Report("error", summary=f"{other}'s patch, which this gate uses, is not made yet")
            with worktrees.verify_lock(workspace, ticket_id, other):
                used.append(worktrees.build_verify(workspace, ticket_id, other, planned[other]["base"]))
    from pipelines import baselines  # it runs gates itself

    base = planned[repo]["base"]
    backend = plugins.load("gates", gate.plugin)
    try:
        env = worktrees.environment(workspace, ticket_id, repo, base) if runs_code(backend) else None
    except StepError as err:
        return Report("error", summary=str(err))
    home = workspace.paths.gate_home(ticket_id, repo, gate.name)
    job = prepare(workspace, repo, gate, tree, home, base, env, used)
    if job.box.enabled and (why := sandbox.problem()):
        return Report("error", summary=f"no sandbox: {why} (or `sandbox: off`)")
    mirror = workspace.paths.mirror(repo)
    changed = tuple(f for f in git.changed(mirror, tree, base, exclude) if gate.covers(f))
    report = backend.check(gate, replace(job, changed=changed))
    if report.status == "fail" and not gate.strict and getattr(backend, "BASELINE", True):
        # the base is judged alone, without the siblings' changes
        report = baselines.judge(report, baselines.findings(workspace, repo, base, gate, env))
    return replace(report, env=env.key) if env else report


def prepare(
    workspace: Workspace,
    repo: str,
    gate: GateSpec,
    tree: Path,
    home: Path,
    base: str,
    env: envs.Env | None,
    used: Sequence[Path] = (),
    changed: tuple[str, ...] = (),
) -> GateJob:
    """A gate's job on `tree` (a worktree of the repo at `base`, or beside it `used` repos' trees):
    an empty HOME, the repo's env active when it has one, and the sandbox to run in."""
    variables = worktrees.activate(worktrees.fresh_home(home, gate.env), env, [tree, *used])
    network = workspace.network(repo, gate)
    box = worktrees.box(workspace, repo, tree, home, network, readable=[*used, *([env.root] if env else [])])
    python = str(env.python) if env else sys.executable
    return GateJob(tree, changed, variables, box, workspace.paths.mirror(repo), base, python)


def runs_code(backend: object) -> bool:
    """Whether a gate runs the repo's code (and so runs in the repo's env)."""
    return getattr(backend, "RUNS_CODE", False)


def run(workspace: Workspace, ticket_id: str, repo: str, name: str) -> None:
    """The `gate:ID/REPO/GATE` step; a report that is not a pass fails it."""
    paths = workspace.paths
    gate = next(g for g in workspace.settings(workspace.tickets[ticket_id], repo).gates if g.name == name)
    if not paths.patch(ticket_id, repo).read_bytes():
        report = Report("skipped", summary="empty patch: nothing to check")
    else:
        base = next(r["base"] for r in plan.load(workspace, ticket_id) if r["name"] == repo)
        with worktrees.verify_lock(workspace, ticket_id, repo):
            tree = worktrees.build_verify(workspace, ticket_id, repo, base)
            report = check(workspace, ticket_id, repo, gate, tree)
    write_atomic(paths.gate_log(ticket_id, repo, name), report.log)
    data = as_json(gate, report)
    if not workspace.sandboxed(repo):
        data["warning"] = "sandbox: off; the gate ran unconfined"
    write_json(paths.gate_report(ticket_id, repo, name), data)
    if report.status not in ("pass", "skipped"):
        log = paths.relative(paths.gate_log(ticket_id, repo, name))
        raise StepError(f"{ticket_id}/{repo}: gate {name}: {report.status}: {report.summary} (see {log})")


def as_json(gate: GateSpec, report: Report) -> dict[str, Any]:
    data = {k: v for k, v in asdict(report).items() if k != "log"}
    return {"gate": gate.name, "tool_version": version(gate), **data}


def own_config(tree: Path, candidates: dict[str, str]) -> bool:
    """Whether the repo root configures a tool itself: {file name: section that must be in it}.

    Without their own config, ruff and pytest would climb out of the repo into whatever folder
    holds state/ (shipyard's own checkout, with its own settings) and judge by those.
    """
    for name, section in candidates.items():
        path = tree / name
        if path.is_file() and (not section or section in path.read_text(errors="replace")):
            return True
    return False


def used_repos(gate: GateSpec, planned: Iterable[str]) -> list[str]:
    """The repos of `gate.uses` that the same ticket changes."""
    return [r for r in gate.uses if r in planned]
