"""The `gate:ID/REPO/GATE` step: one gate on the repo's clean `verify/` tree (base + patch.diff),
sandboxed, in the repo's env when the gate runs the repo's code; one report, a pass or not."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines import baselines, git, plugins, sandbox, templates, worktrees
from pipelines.change import Change
from pipelines.config import GateSpec
from pipelines.errors import StepError
from pipelines.files import read_json, write_atomic, write_json
from pipelines.gates import GateReport, Report, review


def version(gate: GateSpec) -> str | None:
    return plugins.gate(gate.plugin).version(gate)


def inputs(change: Change, gate: GateSpec) -> list[Path]:
    """What the gate reads besides the patches: a reviewer also reads the ticket, the repo's
    instructions in the plan and its prompt template."""
    if gate.plugin != "review":
        return []
    paths, tid = change.paths, change.ticket_id
    return [paths.ticket_json(tid), paths.plan(tid), templates.path(review.TEMPLATE)]


def used_repos(gate: GateSpec, planned: Iterable[str]) -> list[str]:
    """The repos of `gate.uses` that the same ticket changes."""
    return [r for r in gate.uses if r in planned]


def settings(change: Change, gate: GateSpec) -> dict[str, Any]:
    """The values a gate's verdict depends on besides its files: a change to one runs it again."""
    env = change.settings.env
    return {
        "gate": gate.model_dump(),
        "version": version(gate),
        "base": change.base,
        "env": env if isinstance(env, str) else env.model_dump(),
        "uses": {u: change.plan.uses[u] for u in gate.uses if u in change.plan.uses},
    }


def files(change: Change, gate: GateSpec) -> list[Path]:
    """The files a gate's verdict depends on: the patch, the patches of the repos it uses that
    the ticket changes, and what else it reads (`inputs`)."""
    paths, tid = change.paths, change.ticket_id
    used = [paths.patch(tid, r) for r in used_repos(gate, change.plan.order)]
    return [paths.patch(tid, change.repo), *used, *inputs(change, gate)]


def digest(change: Change, gate: GateSpec) -> str:
    """What identifies one run of the gate: its settings and the content of its files."""
    h = hashlib.sha256(json.dumps(settings(change, gate), sort_keys=True, default=str).encode())
    for path in files(change, gate):
        h.update(path.read_bytes() if path.exists() else b"\0missing")
    return h.hexdigest()


def run(change: Change, name: str) -> None:
    """The step; a report that is not a pass fails it. A failed verdict on the same inputs stands:
    the gate is not run again until one changes (or `doit forget gate:...`)."""
    paths, tid, repo = change.paths, change.ticket_id, change.repo
    gate = next(g for g in change.settings.gates if g.name == name)
    key, held = digest(change, gate), paths.gate_failed(tid, repo, name)
    report_file = paths.gate_report(tid, repo, name)
    if held.exists() and report_file.exists() and read_json(held).get("inputs") == key:
        kept = GateReport.read(report_file)
        log = paths.relative(paths.gate_log(tid, repo, name))
        again = f"unchanged since; doit forget gate:{change.name}/{name} runs it again"
        raise change.fail(f"gate {name}", f"{kept.status}: {kept.summary} (see {log}; {again})")
    held.unlink(missing_ok=True)
    patch = paths.patch(tid, repo).read_bytes()
    if not patch:
        report = Report("skipped", summary="empty patch: nothing to check")
    else:
        with worktrees.verify_lock(change.workspace, tid, repo):
            tree = worktrees.build_verify(change.workspace, tid, repo, change.base)
            report = check(change, gate, tree, patch=patch)
    write_atomic(paths.gate_log(tid, repo, name), report.log)
    said = [*([] if change.workspace.sandboxed(repo) else ["sandbox: off; the gate ran unconfined"]),
            *([change.allowed_config] if change.allowed_config else [])]  # fmt: skip
    GateReport.of(gate.name, version(gate), report, "; ".join(said) or None).write(
        paths.gate_report(tid, repo, name)
    )
    if report.status == "fail":  # a verdict (an error could not judge: it runs again)
        write_json(held, {"inputs": key})
    if report.status not in ("pass", "skipped"):
        log = paths.relative(paths.gate_log(tid, repo, name))
        raise change.fail(f"gate {name}", f"{report.status}: {report.summary} (see {log})")


def check(
    change: Change, gate: GateSpec, tree: Path, exclude: tuple[str, ...] = (), patch: bytes | None = None
) -> Report:
    """Run one gate on `tree` (verify/, or the agent's work/ between repair rounds), which holds
    `patch` (None: its diff against the base, `exclude` left out)."""
    workspace, repo, base = change.workspace, change.repo, change.base
    used = []
    # a gate that uses another repo sees it as the ticket leaves it; uses: cannot cycle, so these
    # locks are taken in the order of the uses graph, each held alone
    for other in gate.uses:
        if other in change.plan.uses:  # a repo the ticket does not change: at its pinned base
            used.append(worktrees.base_tree(workspace, other, change.plan.uses[other]))
        elif other in change.plan.order:  # the ticket changes it: with its patch
            if not workspace.paths.patch(change.ticket_id, other).exists():
                return Report("error", summary=f"{other}'s patch, which this gate uses, is not made yet")
            with worktrees.verify_lock(workspace, change.ticket_id, other):
                other_base = change.plan.entry(other).base
                used.append(worktrees.build_verify(workspace, change.ticket_id, other, other_base))
    backend = plugins.gate(gate.plugin)
    try:
        env = worktrees.environment(workspace, change.ticket_id, repo, base) if backend.RUNS_CODE else None
    except StepError as err:
        return Report("error", summary=str(err))
    home = workspace.paths.gate_home(change.ticket_id, repo, gate.name)
    job = worktrees.gate_job(workspace, repo, gate, tree, home, base, env, used)
    if job.box.enabled and (why := sandbox.problem()):
        return Report("error", summary=f"no sandbox: {why} (or `sandbox: off`)")
    mirror = workspace.paths.mirror(repo)
    changed = tuple(f for f in git.changed(mirror, tree, base, exclude) if gate.covers(f))
    if patch is None:
        patch = git.diff(mirror, tree, base, exclude=exclude)
    report = backend.check(gate, replace(job, changed=changed, change=change, patch=patch))
    if report.status == "fail" and not gate.strict and backend.BASELINE:
        # the base is judged alone, without the siblings' changes
        report = baselines.judge(report, baselines.findings(workspace, repo, base, gate, env))
    return replace(report, env=env.key) if env else report
