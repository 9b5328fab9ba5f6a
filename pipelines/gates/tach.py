"""tach check on the whole tree: the module boundaries its tach.toml declares."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pipelines import tools
from pipelines.config import GateSpec
from pipelines.gates import Configured, Finding, GateJob, Report, count, not_installed, own_config

RUNS_CODE: bool = True  # in the repo's own env
BASELINE: bool = True
CONFIGURED = Configured(files=("tach.toml", "tach.domain.toml"), tables=("tool.tach",))
# Without its own, tach would climb to the tach.toml of whatever folder holds the repo.
CONFIGS = {"tach.toml": "", "pyproject.toml": "[tool.tach"}
# tach's JSON names each diagnostic's kind and fields, not its message: these are tach's own words
CANNOT = "Cannot use '{dependency}'. Module '{usage_module}' cannot depend on '{definition_module}'."
MESSAGES = {
    "UndeclaredDependency": CANNOT,
    "ForbiddenDependency": CANNOT,
    "PrivateDependency": "The path '{dependency}' is not part of the public interface for "
    "'{definition_module}'.",
    "LayerViolation": "Cannot use '{dependency}'. Layer '{usage_layer}' ('{usage_module}') is lower than "
    "layer '{definition_layer}' ('{definition_module}').",
    "SkippedFileSyntaxError": "Skipped '{file_path}' due to a syntax error.",
}


def version(gate: GateSpec) -> str | None:
    return tools.version("tach")


def check(gate: GateSpec, job: GateJob) -> Report:
    exe = tools.which("tach")
    if exe is None:
        return not_installed("tach")
    command = ("tach", "check", "--output", "json", *gate.args)
    if not own_config(job.tree, CONFIGS):
        return Report(
            "error",
            command=command,
            summary="the repo has no tach config; add a tach.toml or drop the tach gate",
        )
    code, out = job.run([exe, *command[1:]], gate.timeout)
    log = out.decode(errors="replace")
    if code is None:
        return Report("error", command=command, summary=f"timed out after {gate.timeout}s", log=log)
    start = re.search(r"^[\[{]", log, re.MULTILINE)
    try:
        items = json.JSONDecoder().raw_decode(log, start.start())[0] if start else None
    except ValueError:
        items = None
    if code not in (0, 1) or not isinstance(items, list):  # {"error": ...}: a bad config, a cycle, a crash
        said = items.get("error") if isinstance(items, dict) else log.strip()[:200]
        return Report("error", command=command, summary=f"tach exited {code}: {said}", log=log)
    diagnostics = [next(iter(item.values())) for item in items]  # {"Located" | "Global": {...}}
    errors = [_finding(d) for d in diagnostics if d["severity"] == "Error"]
    findings = tuple(sorted(errors, key=lambda f: (f.file, f.line or 0, f.rule, f.message)))
    if code == 1 and not findings:
        return Report("error", command=command, summary="tach exited 1 but reported no error", log=log)
    status = "fail" if findings else "pass"
    return Report(status, findings, command, count(len(findings), "finding") if findings else "clean", log)


def _finding(diagnostic: dict[str, Any]) -> Finding:
    """A `{"Located": {file_path, line_number, details}}` or `{"Global": {details}}` diagnostic."""
    category = next(iter(diagnostic["details"].values()))  # {"Code" | "Configuration": {KIND: fields}}
    kind, fields = (category, {}) if isinstance(category, str) else next(iter(category.items()))
    fields = fields if isinstance(fields, dict) else {}
    if kind in MESSAGES:
        message = MESSAGES[kind].format_map(fields)
    else:
        message = ", ".join(f"{k}: {v}" for k, v in fields.items()) or kind
    file = diagnostic.get("file_path") or fields.get("file_path", "")
    return Finding(str(file), diagnostic.get("line_number"), kind, message)


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import tach as this

    _: Gate = this
