"""Secrets in the lines the patch adds: gitleaks when installed, detect-secrets otherwise."""

from __future__ import annotations

import codecs
import json
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import git, sandbox, tools
from pipelines.config import GateSpec
from pipelines.errors import StepError
from pipelines.gates import Configured, Finding, GateJob, Report, count

RUNS_CODE: bool = False
BASELINE: bool = True
CONFIGURED = Configured(files=(".secrets.baseline", ".gitleaks.toml", ".gitleaksignore"))

HUNK = re.compile(rb"^@@ -\S+ \+(\d+)")
# the added lines go under added/tree/: a .gitleaks.toml the patch adds is not gitleaks' config
GITLEAKS = ("detect", "--no-git", "--source", "added", "--report-format", "json", "--report-path")
GITLEAKS_ARGS = (*GITLEAKS, "report.json", "--redact", "--no-banner", "--exit-code", "0")


def version(gate: GateSpec) -> str | None:
    return tools.version("gitleaks") or tools.version("detect-secrets")


def check(gate: GateSpec, job: GateJob) -> Report:
    tool = "gitleaks" if tools.which("gitleaks") else "detect-secrets"
    exe = tools.which(tool)
    args = GITLEAKS_ARGS if tool == "gitleaks" else ("scan", "--all-files", ".")
    shown = (tool, *args, *gate.args)
    if exe is None:
        return Report(
            "error", summary="neither gitleaks nor detect-secrets is installed; pip install detect-secrets"
        )
    try:
        added = added_lines(job)
    except StepError as error:
        return Report("error", command=shown, summary=str(error))
    if not added:
        return Report("pass", command=shown, summary="no line added")
    with tempfile.TemporaryDirectory(dir=job.env.get("TMPDIR")) as tmp:  # inside the sandbox too
        for name, lines in added.items():
            path = Path(tmp, "added", "tree", name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(text for _, text in lines))
        cwd = Path(tmp) if tool == "gitleaks" else Path(tmp, "added", "tree")
        code, out = sandbox.run([exe, *shown[1:]], replace(job.box, cwd=cwd), job.env, gate.timeout)
        report = Path(tmp, "report.json")
        raw = report.read_text() if tool == "gitleaks" and report.is_file() else out.decode(errors="replace")
    if code is None:
        return Report("error", command=shown, summary=f"timed out after {gate.timeout}s")
    hits = _hits(tool, raw, added) if code == 0 else None
    if hits is None:
        tail = "\n".join(out.decode(errors="replace").splitlines()[-20:]) if code else ""
        return Report("error", command=shown, summary=f"{tool} exited {code} with no usable report", log=tail)
    findings = tuple(Finding(name, line, rule, "a secret is added here") for name, line, rule in sorted(hits))
    log = "".join(f"{f.file}:{f.line}: {f.rule}\n" for f in findings)
    summary = f"{count(len(findings), 'secret')} added" if findings else "no secret added"
    return Report("fail" if findings else "pass", tuple(findings), shown, summary, log)


def added_lines(job: GateJob) -> dict[str, list[tuple[int, bytes]]]:
    """{file: [(line number in the new file, text)]} for each line the tree adds to the base."""
    if job.mirror is None or job.base is None:
        raise StepError("the secrets gate needs the base commit to tell the added lines")
    diff = git.diff(job.mirror, job.tree, job.base, "-U0", "--no-color", "--no-ext-diff", "--no-textconv")
    added: dict[str, list[tuple[int, bytes]]] = {}
    name, row, header = None, 0, True
    for line in diff.splitlines(keepends=True):
        if line.startswith(b"diff --git "):
            name, header = None, True
        elif header and line.startswith(b"+++ "):
            quoted = line[4:].rstrip(b"\n")
            quoted = codecs.escape_decode(quoted[1:-1])[0] if quoted.startswith(b'"') else quoted
            name = quoted[2:].decode(errors="surrogateescape") if quoted.startswith(b"b/") else None
        elif hunk := HUNK.match(line):
            row, header = int(hunk[1]), False
        elif not header and name and line.startswith(b"+"):
            added.setdefault(name, []).append((row, line[1:] if line.endswith(b"\n") else line[1:] + b"\n"))
            row += 1
    return added


def _hits(tool: str, raw: str, added: dict[str, list[tuple[int, bytes]]]) -> set[tuple[str, int, str]] | None:
    """(real file, real line, rule) for each hit, never the secret; None when the report is unusable."""
    try:
        data = json.loads(raw)
        if tool == "gitleaks":
            hits = [(h["File"].partition("added/tree/")[2], h["StartLine"], h["RuleID"]) for h in data]
        else:
            hits = [(n, h["line_number"], h["type"]) for n, found in data["results"].items() for h in found]
        rows = {name: dict(enumerate((real for real, _ in lines), 1)) for name, lines in added.items()}
        return {(name, rows[name][row], rule) for name, row, rule in hits}
    except (ValueError, LookupError, TypeError, AttributeError):
        return None


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import secrets as this

    _: Gate = this
