"""Real git, real doit, real subprocesses: workspaces built in temporary folders."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from pipelines import git as shipyard_git
from pipelines import tools, worktrees
from pipelines.gates import GateJob
from pipelines.sandbox import Box

ROOT = Path(__file__).resolve().parent.parent
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
DODO = "from pipelines.tasks import dodo\n\nglobals().update(dodo())\n"


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **IDENTITY}
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def make_remote(remote: Path, files: dict[str, str | bytes]) -> Path:
    """A bare repo at `remote` whose main branch holds `files` in one commit."""
    seed = remote.with_name(remote.name + ".seed")
    seed.mkdir(parents=True)
    write_files(seed, files)
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial")
    git(remote.parent, "init", "-q", "--bare", "-b", "main", remote.name)
    git(seed, "push", "-q", str(remote), "main")
    return remote


def commit_to(remote: Path, files: dict[str, str]) -> str:
    """Push one more commit onto the remote's main branch; return its sha."""
    clone = remote.with_name(remote.name + ".push")
    if not clone.exists():
        git(remote.parent, "clone", "-q", str(remote), clone.name)
    git(clone, "pull", "-q")
    write_files(clone, files)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "upstream change")
    git(clone, "push", "-q")
    return git(clone, "rev-parse", "HEAD")


def plain_job(tree: Path, changed: tuple[str, ...], path: str | None = None) -> GateJob:
    """A gate's job on a plain folder, in the sandbox shipyard runs gates in."""
    home = tree.parent / "home"
    env = tools.environment(home)
    if path is not None:
        env["PATH"] = path
    return GateJob(tree, changed, env, Box(cwd=tree, writable=(home,)))


def change_job(tmp_path: Path, base: dict[str, str], changed: dict[str, str]) -> GateJob:
    """A gate's job on a worktree of a mirror at a commit holding `base`, `changed` written on top."""
    remote = make_remote(tmp_path / "remote.git", dict(base))
    mirror = tmp_path / "mirror.git"
    shipyard_git.ensure_mirror(mirror, str(remote))
    sha = shipyard_git.rev(mirror, "refs/remotes/origin/main")
    assert sha
    tree = tmp_path / "t"
    shipyard_git.checkout(mirror, tree, sha)
    write_files(tree, dict(changed))
    home = tmp_path / "home"
    box = worktrees.sandbox_of(mirror, tree, home)
    changes = shipyard_git.changed(mirror, tree, sha)
    return GateJob(tree, changes, tools.environment(home), box, mirror, sha)


@dataclass
class Run:
    returncode: int
    out: str
    err: str

    @property
    def executed(self) -> list[str]:
        """The tasks doit ran (it prints '.  NAME' for those, '-- NAME' for up-to-date ones)."""
        return [line[3:].strip() for line in self.out.splitlines() if line.startswith(".  ")]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.remotes = root.parent / "remotes"
        root.mkdir(parents=True, exist_ok=True)
        (root / "dodo.py").write_text(DODO)

    def write(self, name: str, text: str) -> Path:
        write_files(self.root, {name: text})
        return self.root / name

    def remote(self, name: str, files: dict[str, str | bytes]) -> Path:
        return make_remote(self.remotes / f"{name}.git", files)

    def doit_argv(self) -> list[str]:
        return [sys.executable, "-m", "doit"]

    def doit(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "doit", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "doit", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def state(self, *parts: str) -> Path:
        return self.root.joinpath("state", *parts)


RUNNER = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")  # what an env with tests gets


def repack(name: str, folder: Path) -> None:
    """A wheel of the installed distribution `name`: its files and metadata as installed."""
    dist = metadata.distribution(name)
    info = Path(str(dist._path)).name  # type: ignore[attr-defined]
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    files = {
        str(f): f.locate().read_bytes()
        for f in dist.files or ()
        if not str(f).startswith("..") and "__pycache__" not in str(f) and Path(str(f)).name not in skip
    }
    write_wheel(folder / f"{info.removesuffix('.dist-info')}-py3-none-any.whl", info, files)


def write_wheel(target: Path, info: str, files: dict[str, bytes]) -> None:
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)
        whl.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")


@pytest.fixture(scope="session", autouse=True)
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every repo env of the suite is built by real uv from a folder of wheels made here: pytest's
    own, repacked from this interpreter. No network, and pip's settings say so as a user's would."""
    folder = tmp_path_factory.mktemp("wheels")
    for name in RUNNER:
        repack(name, folder)
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(("PIP_", "UV_"))]:
        del os.environ[name]
    os.environ.update(
        PIP_FIND_LINKS=str(folder), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull,
        UV_CACHE_DIR=str(tmp_path_factory.mktemp("uv-cache")),
    )  # fmt: skip
    yield folder
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")
