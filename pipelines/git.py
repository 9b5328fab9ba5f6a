"""The git shipyard does: mirrors, worktrees, diffs and commits. Never in the user's checkouts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from filelock import FileLock

from pipelines.errors import StepError

# Settings that keep output stable whatever the user's ~/.gitconfig says, and keep hooks quiet.
STABLE_CONFIG = (
    "core.hooksPath=/dev/null",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "core.quotePath=true",
    "advice.detachedHead=false",
)
STABLE = tuple(arg for setting in STABLE_CONFIG for arg in ("-c", setting))
SHIPYARD = {  # the identity of commits when the user has none configured
    "GIT_AUTHOR_NAME": "shipyard",
    "GIT_AUTHOR_EMAIL": "shipyard@localhost",
    "GIT_COMMITTER_NAME": "shipyard",
    "GIT_COMMITTER_EMAIL": "shipyard@localhost",
}
# seeded remotes get the same commit on every machine
SEED_ENV = {
    **SHIPYARD,
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}


def git(cwd: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
    """Run git in `cwd`; a failure becomes a StepError carrying git's own message."""
    out = git_bytes(cwd, *args, input=input, env=env)
    return out.decode(errors="replace").strip()


def git_bytes(cwd: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    proc = subprocess.run(["git", *STABLE, *args], cwd=cwd, input=input, capture_output=True, env=full_env)
    if proc.returncode:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise StepError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout


def resolve_url(url: str, root: Path) -> str:
    """A repos.yaml url as git takes it: relative local paths are relative to the workspace."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", url) or re.match(r"^[^/]+@[^/:]+:", url) or os.path.isabs(url):
        return url
    return str((root / url).resolve())


def seed_remote(url: Path, seed: Path) -> None:
    """Create the bare remote `url` holding `seed`'s files as one commit on main."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(seed, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        git(Path(tmp), "init", "-q", "-b", "main")
        git(Path(tmp), "add", "-A")
        git(Path(tmp), "commit", "-q", "-m", f"Import {seed.name}", env=SEED_ENV)
        staging = url.with_name(url.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        git(staging.parent, "init", "-q", "--bare", "-b", "main", staging.name)
        git(Path(tmp), "push", "-q", str(staging), "main")
        os.replace(staging, url)


def ensure_mirror(mirror: Path, url: str) -> bool:
    """Make `mirror` a bare clone of `url`, with origin's branches under refs/remotes; True if new."""
    if (mirror / "HEAD").exists():
        return False
    staging = mirror.with_name(mirror.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    git(
        staging.parent, "clone", "-q", "--bare", "--no-tags",
        "-c", "remote.origin.fetch=+refs/heads/*:refs/remotes/origin/*", "-c", "gc.auto=0",
        url, staging.name,
    )  # fmt: skip
    os.replace(staging, mirror)
    return True


def fetch(mirror: Path) -> None:
    git(mirror, "fetch", "-q", "--prune", "origin")


def mirror_lock(mirror: Path) -> FileLock:
    mirror.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(mirror) + ".lock")


def rev(mirror: Path, ref: str) -> str | None:
    try:
        return git(mirror, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    except StepError:
        return None


def files_at(mirror: Path, sha: str) -> list[str]:
    return git(mirror, "ls-tree", "-r", "--name-only", sha).splitlines()


def grep(mirror: Path, sha: str, words: list[str]) -> list[str]:
    """The words (fixed strings) found anywhere in the tree at `sha`, in one pass."""
    if not words:
        return []
    args = [arg for word in words for arg in ("-e", word)]
    proc = subprocess.run(
        ["git", "grep", "-o", "-h", "-I", "-F", *args, sha], cwd=mirror, capture_output=True, text=True
    )
    found = set(proc.stdout.split())
    return [word for word in words if word in found]


def checkout(mirror: Path, path: Path, sha: str) -> None:
    """Make `path` a clean worktree of `mirror` at `sha`, reusing it when it exists."""
    if (path / ".git").is_file():
        try:
            git(path, "checkout", "-q", "-f", "--detach", sha)
            git(path, "clean", "-q", "-ffdx")
            return
        except StepError:
            pass
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        git(mirror, "worktree", "add", "-q", "--force", "--detach", str(path), sha)
    except StepError:  # stale metadata of a worktree deleted by hand
        git(mirror, "worktree", "prune")
        git(mirror, "worktree", "add", "-q", "--force", "--detach", str(path), sha)


def stage(worktree: Path, exclude: tuple[str, ...] = ()) -> None:
    """Put every change of `worktree` (but the `exclude`d paths) in its index."""
    git(worktree, "add", "-A", "--", ".", *(f":(exclude){p}" for p in exclude))


def diff(worktree: Path, base: str, exclude: tuple[str, ...] = ()) -> bytes:
    """Everything changed in `worktree` since `base`: new, deleted, renamed and binary files."""
    stage(worktree, exclude)
    return git_bytes(worktree, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "-M", base)


def apply(worktree: Path, patch: bytes) -> None:
    if patch:
        git(worktree, "apply", "--index", "--binary", "--whitespace=nowarn", input=patch)


def holds(worktree: Path, base: str, patch: bytes) -> bool:
    """Whether `worktree` is exactly `base` plus `patch`, with nothing else in it."""
    if not (worktree / ".git").is_file():
        return False
    try:
        head = git(worktree, "rev-parse", "HEAD")
        staged = git_bytes(
            worktree, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "-M", base
        )
        git(worktree, "diff", "--quiet")  # fails when a tracked file differs from the index
        untracked = git(worktree, "ls-files", "--others")  # ignored files included
    except StepError:
        return False
    return head == base and staged == patch and not untracked


def tree_of(mirror: Path, base: str, patch: bytes) -> str:
    """The tree of `base` plus `patch`, built in a private index: no worktree is touched."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(mirror, "read-tree", base, env=env)
        if patch:
            git(mirror, "apply", "--cached", "--binary", "--whitespace=nowarn", input=patch, env=env)
        return git(mirror, "write-tree", env=env)


def numstat(patch: str) -> tuple[int, int, int]:
    """(files, lines added, lines removed) of a unified diff."""
    files = added = removed = 0
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            files += 1
        elif line.startswith("+") and not line.startswith("+++ "):
            added += 1
        elif line.startswith("-") and not line.startswith("--- "):
            removed += 1
    return files, added, removed


def remote_branch(mirror: Path, branch: str) -> str | None:
    """The commit `branch` points at on origin, or None when it does not exist there."""
    out = git(mirror, "ls-remote", "origin", f"refs/heads/{branch}")
    return out.split()[0] if out else None


def commit(mirror: Path, tree: str, parent: str, message: str) -> str:
    identity = {} if _has_identity(mirror) else SHIPYARD
    return git(mirror, "commit-tree", tree, "-p", parent, "-F", "-", input=message.encode(), env=identity)


@cache
def _has_identity(repo: Path) -> bool:
    try:
        return bool(git(repo, "config", "user.email"))
    except StepError:
        return False


def push(mirror: Path, sha: str, branch: str, current: str | None) -> None:
    """Point origin's `branch` (now at `current`) at `sha`, replacing what shipyard pushed before."""
    if current == sha:
        return
    lease = f"--force-with-lease=refs/heads/{branch}:{current or ''}"
    git(mirror, "push", "-q", lease, "origin", f"{sha}:refs/heads/{branch}")
