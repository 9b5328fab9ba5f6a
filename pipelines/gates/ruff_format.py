"""ruff format --check on the Python files the patch touches: one finding per file it would change."""

from __future__ import annotations

import itertools
import re
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
from pipelines.gates.ruff import CONFIGS

RUNS_CODE: bool = False
BASELINE: bool = True
CONFIGURED = Configured(files=("ruff.toml", ".ruff.toml", ".editorconfig"), tables=("tool.ruff",))

HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def version(gate: GateSpec) -> str | None:
    return tools.version("ruff")


def check(gate: GateSpec, job: GateJob) -> Report:
    exe = tools.which("ruff")
    if exe is None:
        return not_installed("ruff")
    files = python_files(job.changed)
    isolated = [] if own_config(job.tree, CONFIGS) else ["--isolated"]
    args = [
        "format",
        "--check",
        "--diff",
        "--no-cache",
        "--force-exclude",
        *isolated,
        *gate.args,
        "--",
        *files,
    ]
    command = ("ruff", *args)
    if not files:
        return Report("pass", command=command, summary="no Python file changed")
    code, out = job.run([exe, *args], gate.timeout)
    log = out.decode(errors="replace")
    if code is None:
        return Report("error", command=command, summary=f"timed out after {gate.timeout}s", log=log)
    if code == 0:
        return Report("pass", command=command, summary="formatted", log=log)
    diffs = _first_changed_lines(log, set(files))
    if code != 1 or not diffs:
        return Report("error", command=command, summary=f"ruff exited {code}: {log.strip()[:200]}", log=log)
    findings = tuple(Finding(f, line, "format", "would be reformatted") for f, line in sorted(diffs.items()))
    return Report("fail", findings, command, f"{count(len(findings), 'file')} would be reformatted", log)


def _first_changed_lines(diff: str, files: set[str]) -> dict[str, int | None]:
    """{file: first line of it the diff changes} for each `--- f` / `+++ f` header of `files`."""
    lines = diff.splitlines()
    found: dict[str, int | None] = {}
    current = None
    for i, line in enumerate(lines):
        name = line[4:].strip()
        if line.startswith("+++ ") and i and lines[i - 1] == f"--- {name}" and name in files:
            current = name
            found.setdefault(current, None)
        elif current is not None and found[current] is None and (hunk := HUNK.match(line)):
            context = itertools.takewhile(lambda text: text.startswith(" "), lines[i + 1 :])
            found[current] = max(int(hunk[1]), 1) + sum(1 for _ in context)
    return found


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import ruff_format as this

    _: Gate = this
