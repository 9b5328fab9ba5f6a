"""The `patch:ID/REPO` step: the agent edits a worktree at the base; the patch is its diff."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines import git, mirrors, plan, plugins, tools
from pipelines.agents import Job
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import read_json, write_atomic, write_json


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
    h = hashlib.sha256(settings.agent.model_dump_json().encode())
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
    mirror = base_mirror(workspace, repo, entry["base"])
    work = paths.work(ticket_id, repo)
    git.checkout(mirror, work, entry["base"])
    env = tools.environment(
        paths.agent_home,
        {
            "SHIPYARD_ROOT": str(paths.root),
            "SHIPYARD_TICKET": ticket_id,
            "SHIPYARD_REPO": repo,
            "SHIPYARD_PROMPT": str(paths.prompt(ticket_id, repo).resolve()),
        },
    )
    job = Job(work, paths.prompt(ticket_id, repo), paths.transcript(ticket_id, repo), env)
    result = plugins.load("agents", settings.agent.kind).run(settings.agent, job)
    usage = {"agent": settings.agent.kind, **{k: v for k, v in vars(result).items() if k != "ok"}}
    usage["inputs"] = key
    if not result.ok:
        write_json(paths.agent_json(ticket_id, repo), {**usage, "status": "failed"})
        raise StepError(f"{ticket_id}/{repo}: patch: {result.error}")
    patch = git.diff(work, entry["base"])
    write_atomic(paths.patch(ticket_id, repo), patch)
    write_json(paths.agent_json(ticket_id, repo), {**usage, "status": "done"})


def base_mirror(workspace: Workspace, repo: str, base: str) -> Path:
    """The repo's mirror, fetched again only if it lost the pinned base."""
    paths = workspace.paths
    if not mirrors.has(paths, repo, base):
        mirrors.ensure(paths, repo, workspace.repos[repo])
        if not mirrors.has(paths, repo, base):
            raise StepError(f"repo {repo}: pinned base {base[:12]} is gone from {workspace.repos[repo].url}")
    return paths.mirror(repo)


def build_verify(workspace: Workspace, ticket_id: str, repo: str, base: str) -> Path:
    """`verify/`: a clean worktree holding the base plus patch.diff and nothing else."""
    paths = workspace.paths
    verify = paths.verify(ticket_id, repo)
    patch = paths.patch(ticket_id, repo).read_bytes()
    if git.holds(verify, base, patch):
        return verify
    git.checkout(base_mirror(workspace, repo, base), verify, base)
    try:
        git.apply(verify, patch)
    except StepError as err:
        raise StepError(f"{ticket_id}/{repo}: patch.diff does not apply to {base[:12]}: {err}") from None
    return verify
