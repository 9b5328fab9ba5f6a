"""ty check on the Python files the patch touches; its GitLab JSON gives the findings."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

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
from pipelines.gates.ruff import _relative

RUNS_CODE: bool = True  # in the repo's own env
BASELINE: bool = True
CONFIGURED = Configured(files=("ty.toml",), tables=("tool.ty",))
# Without its own, ty would take the [tool.ty] of any pyproject.toml above the repo.
CONFIGS = {"ty.toml": "", "pyproject.toml": "[tool.ty"}


def version(gate: GateSpec) -> str | None:
    return tools.version("ty")


def check(gate: GateSpec, job: GateJob) -> Report:
    exe = tools.which("ty")
    if exe is None:
        return not_installed("ty")
    files = python_files(job.changed)
    config = [] if own_config(job.tree, CONFIGS) else ["--config-file", "/dev/null"]
    args = ["check", "--output-format", "gitlab", "--no-progress", "--force-exclude", *config, *gate.args]
    command = ("ty", *args, "--", *files)
    if not files:
        return Report("pass", command=command, summary="no Python file changed")
    code, out = job.run([exe, *command[1:]], gate.timeout)
    log = out.decode(errors="replace")
    if code is None:
        return Report("error", command=command, summary=f"timed out after {gate.timeout}s", log=log)
    items = _json_list(log)
    # exit 0: clean; 1: diagnostics (warnings too); 2: bad arguments, config or I/O; 101: a crash
    if code not in (0, 1) or items is None or (code == 1 and not items):
        said = items[0]["description"] if items else log.strip()
        said = said.replace(f"{job.tree.resolve()}/", "")[:200]
        return Report("error", command=command, summary=f"ty exited {code}: {said}", log=log)
    findings = sorted(
        (
            Finding(
                _relative(i["location"]["path"], job.tree), _line(i["location"]), i["check_name"], _message(i)
            )
            for i in items
        ),
        key=lambda f: (f.file, f.line or 0, f.rule, f.message),
    )
    status = "fail" if code == 1 else "pass"
    return Report(
        status, tuple(findings), command, count(len(findings), "finding") if findings else "clean", log
    )


def _json_list(log: str) -> list[dict[str, Any]] | None:
    """The JSON list ty prints on stdout; stderr's warnings, merged in, may come before or after it."""
    start = re.search(r"^\[", log, re.MULTILINE)
    try:
        items = json.JSONDecoder().raw_decode(log, start.start())[0] if start else None
    except ValueError:
        return None
    return items if isinstance(items, list) else None


def _line(location: dict[str, Any]) -> int | None:
    if "positions" in location:
        return location["positions"]["begin"]["line"]
    return location.get("lines", {}).get("begin")


def _message(item: dict[str, Any]) -> str:
    return item["description"].removeprefix(f"{item['check_name']}: ")


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import ty as this

    _: Gate = this
