"""The `patch:ID/REPO` step: the agent edits a worktree at the base; the patch is its diff."""

from __future__ import annotations

from pathlib import Path

from pipelines import git, mirrors, plan, plugins, tools
from pipelines.agents import Job
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import write_atomic, write_json


def make(workspace: Workspace, ticket_id: str, repo: str) -> None:
    paths = workspace.paths
    entry = next(r for r in plan.load(workspace, ticket_id) if r["name"] == repo)
    settings = workspace.settings(workspace.tickets[ticket_id], repo)
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
    if not result.ok:
        write_json(paths.agent_json(ticket_id, repo), {**usage, "status": "failed"})
        raise StepError(f"{ticket_id}/{repo}: patch: {result.error}")
    patch = git.diff(work, entry["base"])
    write_atomic(paths.patch(ticket_id, repo), patch)
    build_verify(workspace, ticket_id, repo, entry["base"])
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
