"""Baselines: what a gate already finds on the base commit, so a patch is judged on what it adds.

A gate runs on the base once per (repo, base commit, gate settings, tool version); the result is
cached in `state/baselines/REPO/SHA/GATE.json` and shared by every ticket on that base.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, replace
from typing import Any

from filelock import FileLock

from pipelines import envs, git, plugins
from pipelines.config import GateSpec, Workspace
from pipelines.files import read_json, write_json
from pipelines.gates import Finding, Report, count
from pipelines.worktrees import base_mirror, gate_job


def findings(
    workspace: Workspace, repo: str, base: str, gate: GateSpec, env: envs.Env | None = None
) -> list[Finding]:
    """The gate's findings on the base commit, from the cache or from one run there."""
    paths = workspace.paths
    target = paths.baseline(repo, base, gate.name)
    backend = plugins.gate(gate.plugin)
    key = {
        "gate": gate.model_dump(mode="json"),
        "version": backend.version(gate),
        "env": env.key if env else None,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".lock")):  # one base tree per commit, shared by its gates
        if target.exists() and (cached := read_json(target))["key"] == key:
            return [Finding(**f) for f in cached["findings"]]
        tree, home = target.parent / "tree", target.parent / "home"
        mirror = base_mirror(workspace, repo, base)
        git.checkout(mirror, tree, base)
        every_file = tuple(f for f in git.files_at(mirror, base) if gate.covers(f))
        job = gate_job(workspace, repo, gate, tree, home, base, env, changed=every_file)
        report = backend.check(gate, job)
        # a base the gate cannot evaluate excuses nothing
        found = list(report.findings) if report.status in ("pass", "fail") else []
        write_json(target, {"key": key, "status": report.status, "findings": [asdict(f) for f in found]})
    return found


def judge(report: Report, on_base: list[Finding]) -> Report:
    """The report with findings already on the base set apart: only new ones fail the gate."""
    if report.status != "fail" or not report.findings:
        return report
    known = Counter(_key(f) for f in on_base)
    new, old = [], []
    for finding in report.findings:
        if known[_key(finding)] > 0:
            known[_key(finding)] -= 1
            old.append(finding)
        else:
            new.append(finding)
    if not old:
        return report
    status = "fail" if new else "pass"
    summary = f"{count(len(new), 'new finding')}, {len(old)} pre-existing"
    return replace(report, status=status, findings=tuple(new), pre_existing=tuple(old), summary=summary)


def _key(finding: Finding) -> tuple[Any, ...]:
    # lines move when a patch edits above a finding; file, rule and message do not
    return finding.file, finding.rule, finding.message
