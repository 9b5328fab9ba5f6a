"""The repo's tests, by pytest; JUnit XML gives one finding per failing test."""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config import GateSpec
from pipelines.gates import Configured, Finding, GateJob, Report, count, not_installed, own_config

RUNS_CODE: bool = True  # in the repo's own env
BASELINE: bool = True
CONFIGURED = Configured(
    files=("pytest.ini", ".pytest.ini", "conftest.py"),
    tables=("tool.pytest",),
    sections=("tool:pytest", "pytest"),
)
COLLECTION = "collection failure"  # pytest's JUnit message for a test module it could not import
IMPORT = "ImportError while importing test module"
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Warning|Interrupt)\b:?")
DURATION = re.compile(r" in \d+(\.\d+)?s( \([^)]*\))?$")
CONFIGS = {
    "pytest.ini": "",
    ".pytest.ini": "",
    "pyproject.toml": "[tool.pytest",
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
}


def version(gate: GateSpec) -> str | None:
    try:
        return f"pytest {metadata.version('pytest')}"
    except metadata.PackageNotFoundError:
        return None


def check(gate: GateSpec, job: GateJob) -> Report:
    if version(gate) is None:
        return not_installed("pytest")
    with tempfile.TemporaryDirectory(dir=job.env.get("TMPDIR")) as tmp:  # inside the sandbox too
        xml = Path(tmp) / "junit.xml"
        ini = [] if own_config(job.tree, CONFIGS) else ["-c", "/dev/null", "--rootdir", "."]
        argv = [
            job.python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *ini,
            "-o",
            "junit_family=xunit1",
            f"--junitxml={xml}",
            *gate.args,
        ]
        code, out = job.run(argv, gate.timeout)
        log = out.decode(errors="replace")
        shown = tuple(a if not a.startswith("--junitxml=") else "--junitxml=junit.xml" for a in argv[1:])
        command = ("python", *shown)
        if code is None:
            return Report("error", command=command, summary=f"timed out after {gate.timeout}s", log=log)
        if code == 5:
            return Report("error", command=command, summary="no tests were collected", log=log)
        root = _junit(xml)
        if code == 2 and root is not None and (broken := _collection_errors(root)):
            more = f" (and {count(len(broken) - 1, 'more module')})" if len(broken) > 1 else ""
            return Report("error", command=command, summary=f"{broken[0]}{more}", log=log)
        if code not in (0, 1) or root is None:
            return Report("error", command=command, summary=f"pytest exited {code}: {_last(log)}", log=log)
        findings = tuple(_failures(root))
        ran = sum(1 for case in root.iter("testcase") if case.find("skipped") is None)
    if code == 1 and not findings:
        return Report("error", command=command, summary=f"pytest failed: {_last(log)}", log=log)
    status = "fail" if findings else "pass"
    # counts, not pytest's own last line: that one has a duration, and reports must be stable
    summary = (
        f"{len(findings)} of {count(ran, 'test')} failed" if findings else f"{count(ran, 'test')} passed"
    )
    return Report(status, findings, command, summary, log)


def _failures(root: ET.Element) -> list[Finding]:
    found = []
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        line = case.get("line")
        message = (problem.get("message") or "").strip().splitlines()
        if problem.get("message") == COLLECTION:  # --continue-on-collection-errors: say what broke
            message = [_cause(case, problem)]
        found.append(
            Finding(
                case.get("file") or case.get("classname", "").replace(".", "/") + ".py",
                int(line) + 1 if line is not None else None,
                f"{problem.tag}:{case.get('name')}",
                message[0][:300] if message else problem.tag,
            )
        )
    return found


def _junit(xml: Path) -> ET.Element | None:
    """The JUnit report pytest wrote; None when it wrote none, or not all of one (it was stopped)."""
    try:
        return ET.parse(xml).getroot()
    except (OSError, ET.ParseError):
        return None


def _collection_errors(root: ET.Element) -> list[str]:
    """Why each test module that pytest could not import failed, in the order it tried them."""
    found = []
    for case in root.iter("testcase"):
        problem = case.find("error")
        if problem is not None and problem.get("message") == COLLECTION:
            found.append(_cause(case, problem))
    return found


def _cause(case: ET.Element, problem: ET.Element) -> str:
    """A collection error in one line: "ImportError while importing test module tests/test_x.py:
    ModuleNotFoundError: No module named 'requests'". The module by its path in the repo (pytest's
    own text has this machine's), the exception from pytest's `E   ` lines."""
    file = case.get("file") or case.get("name", "").replace(".", "/") + ".py"
    text = (problem.text or "").strip()
    lead = IMPORT if text.startswith(IMPORT) else "cannot collect"
    raised = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    said = next((line for line in raised if EXCEPTION.match(line)), raised[-1] if raised else "")
    return f"{lead} {file}: {said[:300]}" if said else f"{lead} {file}"


def _last(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    # without its duration ("2 errors in 0.15s"): a report must read the same on every run
    return DURATION.sub("", lines[-1].strip("= ")) if lines else "no output"


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import pytest as this

    _: Gate = this
