"""The worktrees of a ticket's repo: `work/` for the agent, `verify/` (base + patch) for gates,
and the sandbox a step runs in on one of them."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from pipelines import envs, git, mirrors, sandbox, tools
from pipelines.config import GateSpec, Workspace
from pipelines.errors import StepError
from pipelines.gates import GateJob


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
    mirror = base_mirror(workspace, repo, base)
    if git.holds(mirror, verify, base, patch):
        return verify
    git.checkout(mirror, verify, base)
    try:
        git.apply(mirror, verify, patch)
    except StepError as err:
        raise StepError(f"{ticket_id}/{repo}: patch.diff does not apply to {base[:12]}: {err}") from None
    return verify


def verify_lock(workspace: Workspace, ticket_id: str, repo: str) -> FileLock:
    """Gates of one repo share its verify tree: under `doit -n N` they take turns."""
    return FileLock(str(workspace.paths.verify(ticket_id, repo)) + ".lock")


def box(
    workspace: Workspace, repo: str, tree: Path, home: Path, network: bool, readable: Sequence[Path] = ()
) -> sandbox.Box:
    """The sandbox of a step on `tree`, a worktree of `repo`'s mirror, with `home` as HOME.

    The workspace is readable; the rest of `state/` is hidden.
    """
    paths = workspace.paths
    return sandbox_of(
        paths.mirror(repo), tree, home, network=network, readable=(paths.root, *readable),
        hidden=(paths.state,), enabled=workspace.sandboxed(repo),
    )  # fmt: skip


def sandbox_of(
    mirror: Path,
    tree: Path,
    home: Path,
    *,
    network: bool = False,
    readable: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
    enabled: bool = True,
) -> sandbox.Box:
    """The sandbox of a step on `tree`, a worktree of `mirror`.

    Writable: the tree, its own git folder (HEAD, index, and a folder for the objects it makes:
    the mirror's are read-only, so nothing in them can be rewritten) and `home`. Readable: the
    mirror (its config and refs included).
    """
    admin = git.admin_dir(mirror, tree)
    if admin is None:
        raise StepError(f"{tree.name} is not a worktree of {mirror.name} (its .git file was changed)")
    (admin / "objects").mkdir(exist_ok=True)
    objects = {
        "GIT_OBJECT_DIRECTORY": str(admin / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(mirror.resolve() / "objects"),
    }
    return sandbox.Box(
        cwd=tree, writable=(admin, home), readable=(mirror, *readable), hidden=tuple(hidden),
        network=network, env=objects, enabled=enabled,
    )  # fmt: skip


def gate_job(
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
    variables = activate(fresh_home(home, gate.env), env, [tree, *used])
    network = workspace.network(repo, gate)
    sandboxed = box(workspace, repo, tree, home, network, readable=[*used, *([env.root] if env else [])])
    python = str(env.python) if env else sys.executable
    return GateJob(tree, changed, variables, sandboxed, workspace.paths.mirror(repo), base, python)


def environment(workspace: Workspace, ticket_id: str, repo: str, base: str) -> envs.Env | None:
    """The repo's own environment at `base` (None: `env: none`), built now if it is not yet; a
    StepError saying why it cannot be had (the step that asked names itself)."""
    setting = workspace.settings(workspace.tickets[ticket_id], repo).env
    mirror, sandboxed = base_mirror(workspace, repo, base), workspace.sandboxed(repo)
    return envs.ensure(workspace.paths.state, mirror, repo, base, setting, sandboxed=sandboxed)


def build_env(workspace: Workspace, repo: str) -> None:
    """`doit env:REPO`: the repo's env at the tip of its default branch, built unless it exists;
    a build that failed is tried again."""
    tip = mirrors.tip(workspace.paths, repo, workspace.repos[repo])
    mirror, setting = workspace.paths.mirror(repo), workspace.env_setting(repo)
    try:
        env = envs.ensure(
            workspace.paths.state, mirror, repo, tip, setting, sandboxed=workspace.sandboxed(repo), retry=True
        )
    except StepError as err:
        raise StepError(f"{repo}: env: {err}") from None
    where = workspace.paths.relative(env.root) if env else "none: shipyard's own Python"
    print(f"{repo}: env at {tip[:12]}: {where}" + (f" (from {env.how})" if env else ""))


def base_tree(workspace: Workspace, repo: str, sha: str) -> Path:
    """The files of `repo` at `sha`, for a gate that uses a repo its ticket does not change."""
    target = workspace.paths.base_tree(repo, sha)
    with FileLock(str(target) + ".lock"):
        if not target.is_dir():
            staging = target.with_name(target.name + ".tmp")
            git.remove_tree(staging)
            git.export(base_mirror(workspace, repo, sha), sha, staging)
            os.replace(staging, target)
    return target


def activate(variables: dict[str, str], env: envs.Env | None, code: Sequence[Path]) -> dict[str, str]:
    """`variables` that run the repo's env (when it has one) on `code`: the trees being judged,
    first on PYTHONPATH, so their code is what runs, never a copy installed from the base."""
    found = [p for tree in code for p in (tree, tree / "src") if p == tree or p.is_dir()]
    python_path = [*map(str, found), *_set(variables, "PYTHONPATH")]
    variables = {**variables, "PYTHONPATH": os.pathsep.join(python_path)}
    if env is not None:
        variables["PATH"] = os.pathsep.join([str(env.bin), variables["PATH"]])
        variables["VIRTUAL_ENV"] = str(env.root)
    return variables


def _set(variables: dict[str, str], name: str) -> list[str]:
    return [variables[name]] if variables.get(name) else []


def fresh_home(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """An empty HOME (and TMPDIR in it) and the built environment that names them."""
    git.remove_tree(home)
    return tools.environment(home, extra or {})
