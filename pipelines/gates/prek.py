"""prek: the repo's own .pre-commit-config.yaml, run on the files the patch touches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import sandbox, tools
from pipelines.config import GateSpec
from pipelines.gates import Configured, Finding, GateJob, Report, not_installed

RUNS_CODE: bool = True  # in the repo's own env
BASELINE: bool = True
CONFIGURED = Configured(files=(".pre-commit-config.yaml", ".pre-commit-config.yml"))
CONFIGS = (".pre-commit-config.yaml", ".pre-commit-config.yml")
HEADER = re.compile(r"^(?!- )\S.*?(Passed|Failed|Skipped)$")
LOCATED = re.compile(r"^(?:\./)?([^\s:][^:]*):(\d+):(?:\d+:)?(.*)$")  # path:line[:col]: message
UNFETCHED = re.compile(r"Failed to clone repo `([^`]+)`")


def version(gate: GateSpec) -> str | None:
    return tools.version("prek")


def check(gate: GateSpec, job: GateJob) -> Report:
    exe = tools.which("prek")
    if exe is None:
        return not_installed("prek")
    if not any((job.tree / name).is_file() for name in CONFIGS):
        return Report(
            "error", summary="the repo has no .pre-commit-config.yaml; add one or drop the prek gate"
        )
    shown = ("prek", "run", "--color", "never", *gate.args, "--files", *job.changed)
    if not job.changed:
        return Report("pass", command=shown, summary="no file changed")
    home = Path(job.env.get("HOME") or job.tree.parent / "home")
    # hook envs and caches stay in shipyard's HOME; uv is never downloaded (none: a clear error)
    env = {"PREK_UV_SOURCE": "none", **job.env, "PREK_HOME": str(home / ".cache" / "prek")}
    code, out = sandbox.run([exe, *shown[1:]], job.box, env, gate.timeout)
    log = out.decode(errors="replace")
    if code is None:
        return Report("error", command=shown, summary=f"timed out after {gate.timeout}s", log=log)
    findings = tuple(f for block in _blocks(log) if block[0] == "Failed" for f in _findings(block, job))
    if code == 0 or (code == 1 and findings):
        status = "fail" if findings else "pass"
        hooks = ", ".join(dict.fromkeys(f.rule for f in findings))
        return Report(status, findings, shown, f"hooks failed: {hooks}" if findings else "clean", log)
    return Report("error", command=shown, summary=_error(code, log, job, home), log=log)


def _blocks(log: str) -> list[tuple[str, str, list[str], list[str]]]:
    """(status, hook id, notes, output) for each hook prek reports."""
    blocks: list[tuple[str, str, list[str], list[str]]] = []
    for line in log.splitlines():
        if header := HEADER.match(line):
            blocks.append((header[1], "", [], []))
        elif blocks and line.startswith("- hook id: "):
            blocks[-1] = (blocks[-1][0], line[len("- hook id: ") :].strip(), *blocks[-1][2:])
        elif blocks and line.startswith("- ") and not line.startswith("- description:"):
            blocks[-1][2].append(line[2:].strip())
        elif blocks and line.startswith("  ") and line.strip():
            blocks[-1][3].append(line[2:].rstrip())
    return blocks


def _findings(block: tuple[str, str, list[str], list[str]], job: GateJob) -> list[Finding]:
    _, hook, notes, output = block
    message = (output or notes[-1:] or ["failed"])[0][:300]
    changed, found = set(job.changed), list[Finding]()
    for line in output:
        located = LOCATED.match(line)
        if located and not Path(located[1]).is_absolute() and (job.tree / located[1]).is_file():
            # the message leaves out the line: a baseline matches findings whose lines moved
            text = located[3].strip() or line.strip()
            found.append(Finding(Path(located[1]).as_posix(), int(located[2]), hook, text[:300]))
        elif named := [w for w in (w.strip("'\",:;()") for w in line.split()) if w in changed]:
            found.append(Finding(named[0], None, hook, line.strip()[:300]))
    found = sorted(dict.fromkeys(found), key=lambda f: (f.file, f.line or 0))  # batches run in parallel
    return found or [Finding("", None, hook or "prek", message)]


def _error(code: int, log: str, job: GateJob, home: Path) -> str:
    if unfetched := UNFETCHED.search(log):
        return f"could not fetch the hook repo {unfetched[1]} (no network?); vendor it as a local hook"
    if "No compatible uv found" in log:
        return "prek needs uv for a python or pygrep hook and does not download it: pip install uv"
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith(("error:", "caused by:"))]
    reason = " / ".join(causes or lines)
    reason = reason.replace(str(job.tree.resolve()), ".").replace(str(job.tree), ".").replace(str(home), "~")
    return f"prek exited {code}: {reason[:300]}"


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import prek as this

    _: Gate = this
