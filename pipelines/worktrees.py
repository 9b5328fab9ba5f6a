"""The worktrees of a ticket's repo: `work/` for the agent, `verify/` (base + patch) for gates."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from pipelines import git, mirrors
from pipelines.config import Workspace
from pipelines.errors import StepError


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


def verify_lock(workspace: Workspace, ticket_id: str, repo: str) -> FileLock:
    """Gates of one repo share its verify tree: under `doit -n N` they take turns."""
    return FileLock(str(workspace.paths.verify(ticket_id, repo)) + ".lock")
