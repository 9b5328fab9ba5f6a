"""The git shipyard does: mirrors, worktrees, diffs and commits. Never in the user's checkouts."""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from filelock import FileLock

from pipelines.errors import StepError
from pipelines.files import write_atomic

# Settings that keep output stable whatever the user's ~/.gitconfig says, and that keep code of the
# repo's or of a sandboxed step's out of shipyard's own git: no hooks, no fsmonitor, no signing.
STABLE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "commit.gpgSign=false",
    "protocol.ext.allow=never",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "core.quotePath=true",
    "advice.detachedHead=false",
)
STABLE = tuple(arg for setting in STABLE_CONFIG for arg in ("-c", setting))
# No config but shipyard's own: neither the system's nor the user's (whose filters, diff and merge
# drivers a tree's .gitattributes could name: git-lfs installs exactly such a global filter).
OWN_CONFIG = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_ATTR_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
# What shipyard's global config takes over from the user's: who they are and how they reach their
# remotes (their own credential helper and ssh, URL rewrites, HTTP proxies and certificates).
USERS = re.compile(
    r"^(user\.(name|email)|credential\..+|url\..+\.(pushinsteadof|insteadof)|http\..+|core\.sshcommand)$"
)
# The attributes of every tree shipyard's git reads, whatever its .gitattributes say: no filter,
# no diff or merge driver (`!` leaves text and binary to git's own detection).
MIRROR_ATTRIBUTES = b"* !filter !diff !merge\n"
# A mirror's whole config, which shipyard owns: no remote (the URL is given on each fetch and
# push), so nothing in it can name a filter, a diff driver, a hook or a command to run.
MIRROR_CONFIG = b"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n[gc]\n\tauto = 0\n"
FETCH = "+refs/heads/*:refs/remotes/origin/*"
HEAD = "refs/remotes/origin/HEAD"  # the branch the remote's HEAD names, as the last fetch found it
DIFF = ("--binary", "--no-color", "--no-ext-diff", "--no-textconv", "-M")
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
    full_env = {**os.environ, **OWN_CONFIG, "GIT_CONFIG_GLOBAL": str(own_config()), **(env or {})}
    proc = subprocess.run(["git", *STABLE, *args], cwd=cwd, input=input, capture_output=True, env=full_env)
    if proc.returncode:
        said = why(proc.stderr.decode(errors="replace"))
        raise StepError(f"git {args[0]} failed: {said or proc.returncode}")
    return proc.stdout


LOCKED = re.compile(r"Unable to create '([^']+\.lock)': File exists")
# What git says after every failed connection, whatever the cause: the cause is the line before.
UNREACHABLE = "fatal: Could not read from remote repository."


def why(stderr: str) -> str:
    """The line of git's complaint that says why: a lock a killed git left (with its path), else
    its first `fatal:` or `error:` line that names a cause, else what ssh said before git's
    "Could not read from remote repository." (the advice after it, "...and the repository
    exists.", says nothing of this failure), else the last line."""
    if found := LOCKED.search(stderr):
        lock = os.path.normpath(found[1])
        return f"{lock} exists: a git process stopped there left it; remove it if no git is running there"
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if said := [line for line in lines if line.startswith(("fatal:", "error:")) and line != UNREACHABLE]:
        return said[0]
    if UNREACHABLE in lines:
        before = lines.index(UNREACHABLE)
        return lines[before - 1] if before else UNREACHABLE
    return lines[-1] if lines else ""


def at(mirror: Path, work: Path | None = None, index: Path | None = None) -> dict[str, str]:
    """The environment of a git call on `mirror` (and a worktree of it), by explicit paths.

    Nothing a worktree holds is read: not its `.git` file, which a sandboxed step could point
    anywhere, nor its index. The mirror's config is put back as shipyard wrote it if it changed.
    """
    if (mirror / "HEAD").exists():
        for path, owned in (
            (mirror / "config", MIRROR_CONFIG),
            (mirror / "info" / "attributes", MIRROR_ATTRIBUTES),
        ):
            try:
                ours = path.read_bytes() == owned
            except OSError:
                ours = False
            if not ours:
                path.parent.mkdir(exist_ok=True)
                write_atomic(path, owned)
    env = {"GIT_DIR": str(mirror)}
    if work is not None:
        env["GIT_WORK_TREE"] = str(work)
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    return env


@cache
def own_config() -> Path:
    """shipyard's global git config, written once per process in a folder of its own: the user's
    identity and remote settings (`USERS`), nothing that names a command a tree could call on."""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-git-"))
    atexit.register(shutil.rmtree, folder, True)
    config = folder / "config"
    config.write_text("")
    users = subprocess.run(
        ["git", "config", "--global", "--list", "-z"], capture_output=True, env={**os.environ, **OWN_CONFIG}
    )
    for entry in users.stdout.decode(errors="replace").split("\0"):
        key, _, value = entry.partition("\n")
        if USERS.match(key.lower()):
            subprocess.run(
                ["git", "config", "--file", str(config), "--add", key, value], check=True, env=OWN_CONFIG
            )
    return config


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
    remove_tree(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    git(staging.parent, "init", "-q", "--bare", staging.name)
    write_atomic(staging / "config", MIRROR_CONFIG)
    fetch(staging, url)
    os.replace(staging, mirror)
    return True


def fetch(mirror: Path, url: str) -> None:
    git(mirror, "fetch", "-q", "--prune", "--no-tags", url, FETCH, env=at(mirror))


def drop_stale_locks(mirror: Path) -> None:
    """Remove the `*.lock` files a git process killed in the mirror left (refs, packed-refs,
    config, shallow). Call it holding `mirror_lock`: then no git of shipyard's is writing there."""
    for lock in [*mirror.glob("*.lock"), *(mirror / "refs").rglob("*.lock")]:
        lock.unlink(missing_ok=True)


def mirror_lock(mirror: Path) -> FileLock:
    mirror.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(mirror) + ".lock")


def rev(mirror: Path, ref: str) -> str | None:
    try:
        return git(mirror, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", env=at(mirror))
    except StepError:
        return None


def files_at(mirror: Path, sha: str) -> list[str]:
    return git(mirror, "ls-tree", "-r", "--name-only", sha, env=at(mirror)).splitlines()


def grep(mirror: Path, sha: str, words: list[str]) -> list[str]:
    """The words (fixed strings) found anywhere in the tree at `sha`, in one pass."""
    if not words:
        return []
    args = [arg for word in words for arg in ("-e", word)]
    proc = subprocess.run(
        ["git", *STABLE, "grep", "--no-textconv", "-o", "-h", "-I", "-F", *args, sha],
        cwd=mirror,
        capture_output=True,
        text=True,
        env={**os.environ, **OWN_CONFIG, "GIT_CONFIG_GLOBAL": str(own_config()), **at(mirror)},
    )
    found = set(proc.stdout.split())
    return [word for word in words if word in found]


def checkout(mirror: Path, path: Path, sha: str) -> Path:
    """Make `path` a fresh worktree of `mirror` at `sha`; its git folder inside the mirror.

    Always made anew: a sandboxed step may have left anything in the old one, its `.git` included.
    Under the mirror's lock (git's `worktree prune` and `add` of one mirror must not interleave),
    and its git folder named after `path` alone, so no two worktrees' folders are ever the same.
    """
    with mirror_lock(mirror):
        remove_tree(path)
        own_index(path).unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        git(mirror, "worktree", "prune", env=at(mirror))
        named = mirror / "worktrees" / admin_name(path)
        remove_tree(named)  # a worktree of this path that lost its folder: its git folder goes too
        git(mirror, "worktree", "add", "-q", "--force", "--detach", str(path), sha, env=at(mirror))
        admin = admin_dir(mirror, path)
        if admin is None:
            raise StepError(f"git worktree add made no worktree at {path.name}")
        if admin != named.resolve():
            os.replace(admin, named)
            write_atomic(path / ".git", f"gitdir: {named.resolve()}\n")
    return named.resolve()


def admin_name(path: Path) -> str:
    """The name of a worktree's git folder: its own folder's name and a digest of its whole path
    (one per ticket, repo and kind: `work-3f2a9c0d1e`)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    return f"{path.name}-{digest}"


def admin_dir(mirror: Path, worktree: Path) -> Path | None:
    """The worktree's own git folder (its HEAD and index) under the mirror's `worktrees/`.

    None when the worktree's `.git` file does not point there (something rewrote it).
    """
    try:
        pointer = (worktree / ".git").read_text()
    except (OSError, UnicodeDecodeError):
        return None
    if not pointer.startswith("gitdir: "):
        return None
    admin = Path(os.path.realpath(pointer[len("gitdir: ") :].strip()))
    return admin if admin.parent == Path(os.path.realpath(mirror / "worktrees")) and admin.is_dir() else None


@contextmanager
def _staged(
    mirror: Path, worktree: Path, base: str, exclude: tuple[str, ...] = ()
) -> Generator[dict[str, str]]:
    """Every file of `worktree` staged in an index of shipyard's own, begun from `base`.

    What the worktree's own index says is not trusted: a sandboxed step could have written it.
    Ours lies beside the worktree, where no step can write, and lives as long as the worktree: its
    stat data spare `git add` from hashing every file again at each call.
    """
    index = own_index(worktree)
    env = at(mirror, worktree, index)
    if not index.exists():
        git(worktree, "read-tree", base, env=env)
    git(worktree, "add", "-A", "--", ".", *(f":(exclude){p}" for p in exclude), env=env)
    yield env


def own_index(worktree: Path) -> Path:
    return worktree.with_name(worktree.name + ".index")


def diff(mirror: Path, worktree: Path, base: str, *args: str, exclude: tuple[str, ...] = ()) -> bytes:
    """`git diff` of everything in `worktree` against `base`: new, deleted, renamed, binary files."""
    with _staged(mirror, worktree, base, exclude) as env:
        return git_bytes(worktree, "diff", "--cached", *(args or DIFF), base, env=env)


@dataclass(frozen=True)
class Changed:
    """One path of a diff as git's machine output gives it: no quoting, the modes as they are."""

    status: str  # A, M, D, R, C, T
    old_mode: str  # 100644, 100755, 120000 (a symlink), 160000 (a gitlink); 000000 when added
    new_mode: str  # 000000 when deleted
    old: str
    new: str

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.old, self.new) if self.old != self.new else (self.new,)


def raw_diff(mirror: Path, worktree: Path, base: str, exclude: tuple[str, ...] = ()) -> list[Changed]:
    """What the worktree changes against `base`, path by path (`git diff --raw -z`, renames found)."""
    with _staged(mirror, worktree, base, exclude) as env:
        out = git_bytes(worktree, "diff", "--cached", "--raw", "-z", "-M", "--no-abbrev", base, env=env)
    return parse_raw(out)


def parse_raw(out: bytes) -> list[Changed]:
    fields = out.decode("utf-8", errors="surrogateescape").split("\0")
    found, i = [], 0
    while i < len(fields) and fields[i].startswith(":"):
        old_mode, new_mode, _, _, status = fields[i][1:].split(" ")
        if status[0] in "RC":
            old, new, i = fields[i + 1], fields[i + 2], i + 3
        else:
            old = new = fields[i + 1]
            i += 2
        found.append(Changed(status[0], old_mode, new_mode, old, new))
    return found


def blob(mirror: Path, sha: str, path: str) -> bytes | None:
    """The file `path` at commit `sha` (None where it is not a file there)."""
    try:
        return git_bytes(mirror, "cat-file", "blob", f"{sha}:{path}", env=at(mirror))
    except StepError:
        return None


def changed(mirror: Path, worktree: Path, base: str, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Paths `worktree` adds or modifies against `base` (renamed-to included)."""
    out = diff(mirror, worktree, base, "--name-only", "-z", "--diff-filter=ACMRT", exclude=exclude)
    return tuple(name.decode() for name in out.split(b"\0") if name)


def apply(mirror: Path, worktree: Path, patch: bytes) -> None:
    """Apply `patch` to the fresh `worktree`, staged in its own index as a checkout would be."""
    admin = admin_dir(mirror, worktree)
    if patch and admin is not None:
        env = at(mirror, worktree, admin / "index")
        git(worktree, "apply", "--index", "--binary", "--whitespace=nowarn", input=patch, env=env)


def holds(mirror: Path, worktree: Path, base: str, patch: bytes) -> bool:
    """Whether `worktree` is exactly `base` plus `patch`, with nothing else in it."""
    if admin_dir(mirror, worktree) is None:
        return False
    try:
        with _staged(mirror, worktree, base) as env:
            staged = git_bytes(worktree, "diff", "--cached", *DIFF, base, env=env)
            untracked = git(worktree, "ls-files", "--others", env=env)  # ignored files included
    except StepError:
        return False
    return staged == patch and not untracked


def tree_of(mirror: Path, base: str, patch: bytes) -> str:
    """The tree of `base` plus `patch`, built in a private index: no worktree is touched."""
    with tempfile.TemporaryDirectory() as tmp:
        env = at(mirror, index=Path(tmp) / "index")
        git(mirror, "read-tree", base, env=env)
        if patch:
            git(mirror, "apply", "--cached", "--binary", "--whitespace=nowarn", input=patch, env=env)
        return git(mirror, "write-tree", env=env)


def reapply(mirror: Path, base: str, patch: bytes) -> bytes | None:
    """`patch` moved onto `base` by a three-way apply, as a patch against `base`; None when it
    conflicts. Built in a private index: no worktree is touched."""
    with tempfile.TemporaryDirectory() as tmp:
        env = at(mirror, index=Path(tmp) / "index")
        git(mirror, "read-tree", base, env=env)
        try:
            git(
                mirror, "apply", "--cached", "--3way", "--binary", "--whitespace=nowarn", input=patch, env=env
            )
        except StepError:
            return None
        return git_bytes(mirror, "diff", "--cached", *DIFF, base, env=env)


def export(mirror: Path, sha: str, target: Path) -> None:
    """The files of `sha` in the new folder `target`, without git's own."""
    archive = git_bytes(mirror, "archive", "--format=tar", sha, env=at(mirror))
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


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


def remote_head(mirror: Path, url: str) -> str | None:
    """The branch the remote's HEAD names, or None when it names none the remote has (an empty
    repo; a bare repo made with another default branch than the one pushed to it)."""
    out = git(mirror, "ls-remote", "--symref", url, "HEAD", env=at(mirror))
    for line in out.splitlines():
        target, _, name = line.partition("\t")
        if name == "HEAD" and target.startswith("ref: refs/heads/"):
            return target.removeprefix("ref: refs/heads/")
    return None


def record_head(mirror: Path, branch: str | None) -> None:
    """Note in the mirror the branch its remote's HEAD names, as `git clone` does
    (refs/remotes/origin/HEAD, which a pruning fetch leaves alone); None forgets it."""
    if branch is not None:
        git(mirror, "symbolic-ref", HEAD, f"refs/remotes/origin/{branch}", env=at(mirror))
    elif recorded_head(mirror) is not None:
        git(mirror, "symbolic-ref", "--delete", HEAD, env=at(mirror))


def recorded_head(mirror: Path) -> str | None:
    """The branch `record_head` noted, or None."""
    try:
        ref = git(mirror, "symbolic-ref", "-q", HEAD, env=at(mirror))
    except StepError:
        return None
    return ref.removeprefix("refs/remotes/origin/") if ref.startswith("refs/remotes/origin/") else None


def remote_branch(mirror: Path, url: str, branch: str) -> str | None:
    """The commit `branch` points at on the remote, or None when it does not exist there."""
    out = git(mirror, "ls-remote", url, f"refs/heads/{branch}", env=at(mirror))
    return out.split()[0] if out else None


def commit(mirror: Path, tree: str, parent: str, message: str) -> str:
    identity = {} if _has_identity(mirror) else SHIPYARD
    env = {**at(mirror), **identity}
    return git(mirror, "commit-tree", tree, "-p", parent, "-F", "-", input=message.encode(), env=env)


@cache
def _has_identity(repo: Path) -> bool:
    try:
        return bool(git(repo, "config", "user.email", env=at(repo)))
    except StepError:
        return False


def push(mirror: Path, url: str, sha: str, branch: str, current: str | None) -> None:
    """Point the remote's `branch` (now at `current`) at `sha`, replacing what shipyard pushed before."""
    if current == sha:
        return
    if (Path(url) / ".git").exists():
        raise StepError(
            f"{url} is a checkout with a work tree, which shipyard never writes to; give a bare remote"
        )
    lease = f"--force-with-lease=refs/heads/{branch}:{current or ''}"
    git(mirror, "push", "-q", lease, url, f"{sha}:refs/heads/{branch}", env=at(mirror))


def contains(mirror: Path, tip: str, commit: str) -> bool:
    """Whether `commit` is `tip` or one of its ancestors (as far as the mirror knows)."""
    if tip == commit:
        return True
    try:
        git(mirror, "merge-base", "--is-ancestor", commit, tip, env=at(mirror))
    except StepError:
        return False
    return True


def merge_commit(mirror: Path, ours: str, theirs: str, message: str) -> str | None:
    """A merge commit of `theirs` into `ours`, made without a worktree; None on a conflict."""
    if rev(mirror, ours) is None:  # the tip must be in the mirror
        return None
    try:
        tree = git(mirror, "merge-tree", "--write-tree", ours, theirs, env=at(mirror)).splitlines()[0]
    except StepError:
        return None
    identity = {} if _has_identity(mirror) else SHIPYARD
    env = {**at(mirror), **identity}
    return git(
        mirror, "commit-tree", tree, "-p", ours, "-p", theirs, "-F", "-", input=message.encode(), env=env
    )


def check_head(mirror: Path, url: str, branch: str, commit: str) -> None:
    """Refuse, in one line, a branch that is no longer at the commit shipyard pushed."""
    head = remote_branch(mirror, url, branch)
    if head != commit:
        said = "is gone" if head is None else f"is at {head[:12]}, not the {commit[:12]} shipyard pushed"
        raise StepError(f"branch {branch} {said}; someone changed it: land it by hand")


def delete_branch(mirror: Path, url: str, branch: str, sha: str) -> None:
    """Delete the remote's `branch`, only while it still points at `sha`."""
    lease = f"--force-with-lease=refs/heads/{branch}:{sha}"
    git(mirror, "push", "-q", lease, url, f":refs/heads/{branch}", env=at(mirror))


def remove_tree(path: Path) -> None:
    """Remove a folder a sandboxed step wrote, whatever modes it left on what it made."""

    def unlock(function: object, name: str, error: object) -> None:
        os.chmod(os.path.dirname(name), 0o700)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, 0o700)
            shutil.rmtree(name, onerror=unlock)
        else:
            os.unlink(name)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=unlock)
