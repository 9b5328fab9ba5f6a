"""ruff check on the Python files the patch touches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import tools
from pipelines.config import GateSpec
from pipelines.gates import (
    Configured,
    Finding,
    GateJob,
    Report,
    count,
    not_installed,
    own_config,
    python_files,
)

RUNS_CODE: bool = False
BASELINE: bool = True
CONFIGURED = Configured(files=("ruff.toml", ".ruff.toml"), tables=("tool.ruff",))

CONFIGS = {"ruff.toml": "", ".ruff.toml": "", "pyproject.toml": "[tool.ruff"}


def version(gate: GateSpec) -> str | None:
    return tools.version("ruff")


def check(gate: GateSpec, job: GateJob) -> Report:
    exe = tools.which("ruff")
    if exe is None:
        return not_installed("ruff")
    files = python_files(job.changed)
    isolated = [] if own_config(job.tree, CONFIGS) else ["--isolated"]
    args = ["check", "--output-format", "json", "--no-cache", "--force-exclude", *isolated, *gate.args]
    argv = ["ruff", *args, "--", *files]  # as reports show it: no path of this machine
    if not files:
        return Report("pass", command=tuple(argv), summary="no Python file changed")
    code, out = job.run([exe, *argv[1:]], gate.timeout)
    log = out.decode(errors="replace")
    if code is None:
        return Report("error", command=tuple(argv), summary=f"timed out after {gate.timeout}s", log=log)
    try:
        items = json.loads(log[log.index("[") :]) if "[" in log else None
    except ValueError:
        items = None
    if code not in (0, 1) or items is None:
        return Report(
            "error", command=tuple(argv), summary=f"ruff exited {code}: {log.strip()[:200]}", log=log
        )
    findings = tuple(
        Finding(_relative(i["filename"], job.tree), i["location"]["row"], i["code"] or "syntax", i["message"])
        for i in items
    )
    status = "fail" if findings else "pass"
    return Report(
        status, findings, tuple(argv), count(len(findings), "finding") if findings else "clean", log
    )


def _relative(filename: str, tree: Path) -> str:
    path = Path(filename)
    return path.relative_to(tree.resolve()).as_posix() if path.is_absolute() else filename


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import ruff as this

    _: Gate = this
