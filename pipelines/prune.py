"""`doit prune`: the folders of `state/` that belong to no ticket in `tickets/` and no repo in
`repos.yaml`. A deleted ticket leaves its `state/ID/`; a repo dropped from repos.yaml leaves its
mirror, envs, baselines and its folder in every ticket; a re-plan that leaves a repo out leaves the
ticket's folder of it. Nothing reads them again and no step removes them.

A folder is judged only when it holds what its step writes, so a folder another part of shipyard
keeps beside them is never taken for a ticket's or a repo's. The lock, doit's database, the
evals' runs and the remotes the bundled example seeds are never judged at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines import git, plan
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.paths import Paths

# state/'s folders every ticket shares, one entry per repo in each (see paths.py and envs.py)
MIRRORS, PER_REPO = "mirrors", ("envs", "baselines", "trees")
# state/'s folders that are no ticket's: the evals' runs, the bundled example's seeded remotes
NOT_TICKETS = frozenset({MIRRORS, *PER_REPO, "remotes", "evals"})
TICKET_OWN = frozenset({"planner"})  # a ticket's own folders beside its repos' (the planner agent's)
YES = ("1", "yes", "true")  # `doit prune yes=1`: anything else only lists


@dataclass(frozen=True)
class Stale:
    """A folder nothing reads again, why, and what it holds."""

    path: Path
    why: str
    size: int  # bytes, as listed (links not followed)
    also: tuple[Path, ...] = ()  # removed with it: a mirror's lock file
    worktrees_of: tuple[str, ...] = ()  # repos whose mirrors keep a git folder for a worktree in it


def stale(workspace: Workspace) -> list[Stale]:
    """Every folder of `state/` that belongs to a ticket no longer in tickets/, or to a repo no
    longer in repos.yaml or in its ticket's plan; tickets first, then the shared folders."""
    if not workspace.paths.state.is_dir():
        return []
    return [*_tickets(workspace), *_mirrors(workspace), *_per_repo(workspace)]


def _folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())


def _tickets(workspace: Workspace) -> Iterator[Stale]:
    paths = workspace.paths
    for folder in _folders(paths.state):
        tid = folder.name
        if tid in NOT_TICKETS or tid.startswith(".") or not _is_ticket(paths, tid):
            continue
        if tid in workspace.tickets:
            yield from _repos(workspace, tid)
        else:
            repos = tuple(p.name for p in _folders(folder) if p.name not in TICKET_OWN)
            yield _found(folder, f"ticket {tid} is no longer in tickets/", worktrees_of=repos)


def _is_ticket(paths: Paths, tid: str) -> bool:
    """Whether a folder of state/ is a ticket's: it holds a record only a ticket's steps write."""
    records = (paths.ticket_json(tid), paths.plan(tid), paths.ship_json(tid), paths.report(tid))
    return any(p.is_file() for p in records)


def _repos(workspace: Workspace, tid: str) -> Iterator[Stale]:
    """The folders of an existing ticket for repos it no longer changes."""
    paths = workspace.paths
    planned = plan.read(paths, tid)
    kept = () if planned is None else (*planned.order, *planned.uses)
    for folder in _folders(paths.ticket_dir(tid)):
        repo = folder.name
        if repo in TICKET_OWN or not _is_repo(paths, tid, repo):
            continue
        if repo not in workspace.repos:
            yield _found(folder, f"repo {repo} is no longer in repos.yaml")  # its mirror goes too
        elif planned is not None and repo not in kept:
            yield _found(folder, f"{tid}'s plan no longer has repo {repo}", worktrees_of=(repo,))


def _is_repo(paths: Paths, tid: str, repo: str) -> bool:
    """Whether a ticket's folder is one of its repos': it holds what a repo's steps write."""
    written = (
        paths.prompt(tid, repo), paths.patch(tid, repo), paths.agent_json(tid, repo),
        paths.mr_json(tid, repo), paths.gate_report(tid, repo, "_").parent,
        paths.work(tid, repo), paths.verify(tid, repo), paths.home(tid, repo),
    )  # fmt: skip
    return any(p.exists() for p in written)


def _mirrors(workspace: Workspace) -> Iterator[Stale]:
    """Mirrors of dropped repos, each with its lock file (a lock without its mirror alone)."""
    folder = workspace.paths.state / MIRRORS
    if not folder.is_dir():
        return
    names = {p.name for p in folder.iterdir()}
    for name in sorted(names):
        repo = name.removesuffix(".lock").removesuffix(".git")
        mirror = workspace.paths.mirror(repo)
        lock = mirror.with_name(f"{mirror.name}.lock")  # git.mirror_lock's
        if repo in workspace.repos or name.startswith(".") or name not in (mirror.name, lock.name):
            continue
        why = f"repo {repo} is no longer in repos.yaml"
        if name == mirror.name:
            yield _found(mirror, why, also=(lock,) if lock.name in names else ())
        elif mirror.name not in names:
            yield _found(lock, why)


def _per_repo(workspace: Workspace) -> Iterator[Stale]:
    """Envs, baselines and base trees of dropped repos (`envs/.uv-cache` is every env's)."""
    for kind in PER_REPO:
        folder = workspace.paths.state / kind
        if not folder.is_dir():
            continue
        for entry in _folders(folder):
            if not entry.name.startswith(".") and entry.name not in workspace.repos:
                yield _found(entry, f"repo {entry.name} is no longer in repos.yaml")


def _found(path: Path, why: str, also: tuple[Path, ...] = (), worktrees_of: tuple[str, ...] = ()) -> Stale:
    return Stale(path, why, size(path) + sum(map(size, also)), also, worktrees_of)


def size(path: Path) -> int:
    """What a file or folder takes, in bytes, links counted as links."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size if path.exists() or path.is_symlink() else 0
    total = 0
    for top, folders, files in os.walk(path):
        for name in (*folders, *files):
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:  # gone while we looked: a step of another tool, nothing of ours
                continue
    return total


def make(workspace: Workspace, remove: bool) -> list[Stale]:
    """The `prune` step: list what is stale with its size; remove it only when asked."""
    found = stale(workspace)
    if not found:
        print("prune: nothing to remove: every folder in state/ is of a ticket and repo that exist")
        return found
    shown = [f"{workspace.paths.relative(s.path)}{'/' if s.path.is_dir() else ''}" for s in found]
    width = max(map(len, shown))
    total = human(sum(s.size for s in found))
    count = f"{len(found)} folder{'s' if len(found) > 1 else ''}"
    print(f"prune: {'removing' if remove else 'would remove'} {count} of state/ ({total}):")
    for name, item in zip(shown, found, strict=True):
        print(f"  {name:<{width}}  {human(item.size):>10}  {item.why}")
    if not remove:
        print("prune: nothing removed; `doit prune yes=1` removes them")
        return found
    for item in found:
        for path in (item.path, *item.also):
            try:
                git.remove_tree(path)
            except OSError as err:
                raise StepError(f"prune: cannot remove {workspace.paths.relative(path)}: {err}") from None
    _forget_worktrees(workspace, {r for item in found for r in item.worktrees_of})
    print(f"prune: removed {count} ({total})")
    return found


def _forget_worktrees(workspace: Workspace, repos: set[str]) -> None:
    """Drop the git folders the remaining repos' mirrors kept for the worktrees just removed (they
    hold each worktree's index and the objects its steps made)."""
    for repo in sorted(repos & workspace.repos.keys()):
        mirror = workspace.paths.mirror(repo)
        if mirror.is_dir():
            with git.mirror_lock(mirror):
                git.git(mirror, "worktree", "prune", env=git.at(mirror))


def human(count: int) -> str:
    """A size as people read it: 812 B, 4.0 KiB, 1.2 MiB."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
