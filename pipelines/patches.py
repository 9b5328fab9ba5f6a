"""The `patch:ID/REPO` step: the agent edits a worktree at the base; the patch is its diff."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines import gates, git, guard, plan, plugins, sandbox, templates, worktrees
from pipelines.agents import Job
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import read_json, write_atomic, write_json

REPAIR_TEMPLATE = "repair.md.j2"


def inputs(workspace: Workspace, ticket_id: str, repo: str, skills: list[str]) -> list[Path]:
    """The files the agent works from: its prompt, the agent's own `inputs`, the skills' files."""
    settings = workspace.settings(workspace.tickets[ticket_id], repo)
    files = [workspace.paths.prompt(ticket_id, repo)]
    files += [workspace.paths.root / i for i in getattr(settings.agent, "inputs", ())]
    files += [f for name in skills for f in workspace.skills[name].files()]
    return files


def digest(workspace: Workspace, ticket_id: str, repo: str, skills: list[str]) -> str:
    """What identifies one agent run: its settings and the content of its inputs."""
    settings = workspace.settings(workspace.tickets[ticket_id], repo)
    h = hashlib.sha256(settings.agent.model_dump_json().encode() + repr(settings.spec.protect).encode())
    for path in inputs(workspace, ticket_id, repo, skills):
        h.update(workspace.paths.relative(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def finished(workspace: Workspace, ticket_id: str, repo: str, key: str) -> bool:
    """Whether this very run already finished (doit lost its record to a kill): keep its patch."""
    paths = workspace.paths
    record = paths.agent_json(ticket_id, repo)
    if not (record.exists() and paths.patch(ticket_id, repo).exists()):
        return False
    data = read_json(record)
    return data.get("status") == "done" and data.get("inputs") == key


def make(workspace: Workspace, ticket_id: str, repo: str) -> None:
    paths = workspace.paths
    entry = next(r for r in plan.load(workspace, ticket_id) if r["name"] == repo)
    settings = workspace.settings(workspace.tickets[ticket_id], repo)
    key = digest(workspace, ticket_id, repo, entry["skills"])
    if finished(workspace, ticket_id, repo, key):
        print(f"{ticket_id}/{repo}: the agent already finished this patch; `doit clean` it to run again")
        return
    agent = plugins.load("agents", settings.agent.kind)
    work = paths.work(ticket_id, repo)
    mirror = worktrees.base_mirror(workspace, repo, entry["base"])
    git.checkout(mirror, work, entry["base"])
    installed = _install_skills(workspace, work, getattr(agent, "SKILLS_DIR", None), entry["skills"])
    write_atomic(paths.guard_log(ticket_id, repo), "")
    shutil.rmtree(paths.repo_dir(ticket_id, repo) / "rounds", ignore_errors=True)
    # a model agent runs the repo's tests while it works: in the repo's env (a codemod brings its own)
    uses_env = getattr(agent, "USES_ENV", False)
    try:
        repo_env = worktrees.environment(workspace, ticket_id, repo, entry["base"]) if uses_env else None
    except StepError as err:
        raise StepError(f"{ticket_id}/{repo}: patch: {err}") from None
    home = paths.home(ticket_id, repo)
    variables = worktrees.fresh_home(home, _variables(workspace, ticket_id, repo))
    env = worktrees.activate(variables, repo_env, [work])
    box = worktrees.box(workspace, repo, work, home, workspace.network(repo))
    box = box.allow(readable=[paths.prompt(ticket_id, repo), *([repo_env.root] if repo_env else [])])
    if box.enabled and (why := sandbox.problem()):
        raise StepError(f"{ticket_id}/{repo}: patch: no sandbox, so no agent: {why} (or `sandbox: off`)")
    job = Job(
        work, paths.prompt(ticket_id, repo), paths.transcript(ticket_id, repo), env, box,
        paths.guard_log(ticket_id, repo), settings.spec.protect,
    )  # fmt: skip
    result = agent.run(settings.agent, job)
    rounds = 0
    while result.ok and hasattr(agent, "resume") and rounds < getattr(settings.agent, "repair_rounds", 0):
        failing = _failing_gates(workspace, ticket_id, repo, work, installed)
        if not failing:
            break
        rounds += 1
        job = _repair_job(workspace, ticket_id, repo, rounds, failing, job)
        result = agent.resume(settings.agent, job, result.session)
    usage = {"agent": settings.agent.kind, "inputs": key, "repair_rounds": rounds}
    if not workspace.sandboxed(repo):
        usage["warning"] = "sandbox: off; the agent ran unconfined"
    usage.update((k, v) for k, v in vars(result).items() if k not in ("ok", "session"))
    if not result.ok:
        write_json(paths.agent_json(ticket_id, repo), {**usage, "status": "failed"})
        raise StepError(f"{ticket_id}/{repo}: patch: {result.error}")
    patch = git.diff(mirror, work, entry["base"], exclude=installed)
    if refusals := guard.check_patch(patch.decode(errors="replace"), settings.spec.protect):
        for refusal in refusals:
            guard.record(paths.guard_log(ticket_id, repo), "patch", None, refusal)
        write_json(paths.agent_json(ticket_id, repo), {**usage, "status": "refused"})
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        log = paths.relative(paths.guard_log(ticket_id, repo))
        raise StepError(
            f"{ticket_id}/{repo}: patch: the guard refused it: {refusals[0].reason}{more}; see {log}"
        )
    write_atomic(paths.patch(ticket_id, repo), patch)
    write_json(paths.agent_json(ticket_id, repo), {**usage, "status": "done"})


def _variables(workspace: Workspace, ticket_id: str, repo: str) -> dict[str, str]:
    paths = workspace.paths
    return {
        "SHIPYARD_ROOT": str(paths.root),
        "SHIPYARD_TICKET": ticket_id,
        "SHIPYARD_REPO": repo,
        "SHIPYARD_PROMPT": str(paths.prompt(ticket_id, repo).resolve()),
    }


def _install_skills(
    workspace: Workspace, work: Path, folder: str | None, names: list[str]
) -> tuple[str, ...]:
    """Copy the repo's skills where the agent reads them; they never reach the patch."""
    if folder is None:
        return ()
    installed = []
    for name in names:
        target = work / folder / name
        if target.exists() or target.is_symlink():  # the repo ships a skill of that name: its own wins
            continue
        if not target.parent.resolve().is_relative_to(work.resolve()):
            continue  # the base has a symlink there, out of the worktree: nothing is written through it
        shutil.copytree(workspace.skills[name].path.parent, target)
        installed.append(f"{folder}/{name}")
    return tuple(installed)


def _failing_gates(
    workspace: Workspace, ticket_id: str, repo: str, work: Path, installed: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The repo's gates run on the agent's worktree as it stands; the reports that did not pass."""
    failing = []
    for gate in workspace.settings(workspace.tickets[ticket_id], repo).gates:
        report = gates.check(workspace, ticket_id, repo, gate, work, exclude=installed)
        if report.status != "pass":
            lines = report.log.strip().splitlines()[-30:]
            failing.append({**gates.as_json(gate, report), "log_tail": "\n".join(lines)})
    return failing


def _repair_job(
    workspace: Workspace, ticket_id: str, repo: str, number: int, failing: list[dict[str, Any]], job: Job
) -> Job:
    """Repair round N: its prompt (the failing reports) and transcript go in rounds/N/."""
    folder = workspace.paths.round_dir(ticket_id, repo, number)
    write_json(folder / "gates.json", failing)
    prompt = folder / "prompt.md"
    first = workspace.paths.prompt(ticket_id, repo).read_text()
    write_atomic(prompt, first + "\n" + templates.render(REPAIR_TEMPLATE, reports=failing))
    return replace(job, prompt=prompt, transcript=folder / "transcript.jsonl")
