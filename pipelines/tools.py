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


@cache  # once per run: the graph asks for every gate task, and a tool does not change mid-run
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
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": BIN,
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",  # no usercustomize.py a step left in HOME runs in the next one
        "GIT_TERMINAL_PROMPT": "0",
    }
    return {**env, **extra}


try:  # looked up here, not in the forked child, where loading a library could deadlock
    _prctl = ctypes.CDLL(None).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def die_with_parent() -> None:
    # The sandbox must not outlive a killed `doit`; its PID namespace takes the rest with it.
    os.setsid()
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
