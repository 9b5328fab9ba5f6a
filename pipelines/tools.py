"""Finding the tools shipyard runs, and the environment it runs them in."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

# The interpreter's own bin folder first: `.venv/bin/doit ship` finds the tools installed beside it.
BIN = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])


def which(tool: str) -> str | None:
    return shutil.which(tool, path=BIN)


@cache
def version(tool: str, *args: str) -> str | None:
    """`tool --version`, first line; None when the tool is missing."""
    exe = which(tool)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, *(args or ("--version",))], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else None


def environment(home: Path, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """A built environment, not an inherited one: no tokens, no SSH agent, a HOME shipyard owns."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": BIN,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return {**env, **extra}


try:  # looked up here, not in the forked child, where loading a library could deadlock
    _prctl = ctypes.CDLL(None).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def die_with_parent() -> None:
    # A child must not outlive a killed `doit` and keep writing into a worktree being reused.
    os.setsid()
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run(
    argv: list[str], cwd: Path, env: Mapping[str, str], timeout: float, input: bytes | None = None
) -> tuple[int | None, bytes]:
    """Run a command, output merged; (None, output) when it timed out and was killed."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if input else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        out, _ = proc.communicate(input, timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out
