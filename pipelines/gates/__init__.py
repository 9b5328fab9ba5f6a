"""Gates check a change deterministically. Each backend: `version()` and `check(gate, job)`;
`BASELINE = False` in one whose findings cannot be set against the base's.

The `gate:ID/REPO/GATE` step runs one gate in the repo's clean `verify/` tree and writes one
report, the same shape for every gate: status pass | fail | error (could not evaluate, never a
pass), findings (file, line, rule, message), the command and the tool's version.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines import git, plan, plugins, tools, worktrees
from pipelines.config import GateSpec, Workspace
from pipelines.errors import StepError
from pipelines.files import write_atomic, write_json


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


@dataclass(frozen=True)
class GateJob:
    tree: Path
    changed: tuple[str, ...]  # files the patch adds or modifies, relative to the tree
    env: dict[str, str] = field(repr=False)


def not_installed(tool: str) -> Report:
    return Report("error", summary=f"{tool} is not installed; pip install 'shipyard[gates]'")


def python_files(changed: Iterable[str]) -> list[str]:
    return [f for f in changed if f.endswith((".py", ".pyi"))]


def version(gate: GateSpec) -> str | None:
    return plugins.load("gates", gate.plugin).version(gate)


def changed_files(tree: Path) -> tuple[str, ...]:
    """Paths the patch applied in `tree` leaves in place: added, modified, renamed-to."""
    out = git.git_bytes(tree, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMRT", "HEAD")
    return tuple(name.decode() for name in out.split(b"\0") if name)


def check(
    workspace: Workspace, ticket_id: str, repo: str, gate: GateSpec, tree: Path, env: dict[str, str]
) -> Report:
    """Run one gate on `tree` (verify/, or the agent's work/ between repair rounds)."""
    planned = {r["name"]: r for r in plan.load(workspace, ticket_id)}
    used = []
    for other in used_repos(gate, planned):
        if not workspace.paths.patch(ticket_id, other).exists():
            return Report("error", summary=f"{other}'s patch, which this gate uses, is not made yet")
        with worktrees.verify_lock(workspace, ticket_id, other):
            base = planned[other]["base"]
            used.append(str(worktrees.build_verify(workspace, ticket_id, other, base).resolve()))
    from pipelines import baselines  # it runs gates itself

    base_env = {**env, **gate.env}  # the base is judged alone, without the siblings' changes
    env = dict(base_env)
    if used:
        env["PYTHONPATH"] = os.pathsep.join([*used, *filter(None, [env.get("PYTHONPATH")])])
    changed = tuple(f for f in changed_files(tree) if gate.covers(f))
    backend = plugins.load("gates", gate.plugin)
    report = backend.check(gate, GateJob(tree, changed, env))
    if gate.strict or report.status != "fail" or not getattr(backend, "BASELINE", True):
        return report
    on_base = baselines.findings(workspace, repo, planned[repo]["base"], gate, base_env)
    return baselines.judge(report, on_base)


def run(workspace: Workspace, ticket_id: str, repo: str, name: str) -> None:
    """The `gate:ID/REPO/GATE` step; a report that is not a pass fails it."""
    paths = workspace.paths
    gate = next(g for g in workspace.settings(workspace.tickets[ticket_id], repo).gates if g.name == name)
    if not paths.patch(ticket_id, repo).read_bytes():
        report = Report("skipped", summary="empty patch: nothing to check")
    else:
        base = next(r["base"] for r in plan.load(workspace, ticket_id) if r["name"] == repo)
        env = tools.environment(paths.home(ticket_id, repo))
        with worktrees.verify_lock(workspace, ticket_id, repo):
            tree = worktrees.build_verify(workspace, ticket_id, repo, base)
            report = check(workspace, ticket_id, repo, gate, tree, env)
    write_atomic(paths.gate_log(ticket_id, repo, name), report.log)
    write_json(paths.gate_report(ticket_id, repo, name), as_json(gate, report))
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
