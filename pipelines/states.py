"""The one word that says where a ticket's change to one repo stands, read from its artifacts.

The same word everywhere: the closing table, report.md, ship.json, `doit status`. In order of
what overrides what: landed; waiting (to land: checks, approvals); failed at STEP; outdated (an
open merge request holds an older patch than the one judged now); open (current); ready (every
gate passed, no merge request yet); no change; planned (nothing made yet).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.files import read_json
from pipelines.forges import Record
from pipelines.gates import GateReport
from pipelines.paths import Paths

WORDS = ("planned", "running", "no change", "failed", "ready", "open", "outdated", "waiting", "landed")
EXPLAINED = ("failed", "outdated", "waiting")  # the states a table says why of


@dataclass(frozen=True)
class State:
    word: str  # one of WORDS
    step: str = ""  # for `failed`: the step it failed at (patch, gate ruff, mr, land)
    why: str = ""  # one line: why it is so, and what to do

    def __str__(self) -> str:
        said = f"failed at {self.step}" if self.word == "failed" else self.word
        return f"{said} ({self.why})" if self.why else said

    @property
    def cell(self) -> str:
        """The state for a table: its why only where it needs one (failed, outdated, waiting)."""
        return f"{self.short}: {self.why}" if self.word in EXPLAINED and self.why else self.short

    @property
    def short(self) -> str:
        """The state without its why, for a table's narrow column."""
        return f"failed at {self.step}" if self.word == "failed" else self.word


def of(paths: Paths, ticket: str, repo: str, gates: tuple[str, ...]) -> State:
    """The state of `repo` in `ticket`, from what its steps left in state/."""
    if landed := _landed(paths, ticket, repo):
        return landed
    patch = paths.patch(ticket, repo)
    error = _error(paths.step_error(ticket, repo, "patch"))
    if not patch.exists() or (error and not _pushed(paths, ticket, repo)):
        return State("failed", "patch", error) if error else State("planned")
    data = patch.read_bytes()
    if not data:
        return State("no change")
    failing = _failing(paths, ticket, repo, gates)
    record = _record(paths, ticket, repo)
    if record is not None and record.state == "open":
        held = getattr(record, "patch_sha256", None)
        if held is not None and held != hashlib.sha256(data).hexdigest():
            why = failing.why if failing else (error or "the new patch is not pushed yet: doit ship")
            return State("outdated", why=f"it holds an older patch; {why}")
        if error:  # the patch step failed again after this merge request opened on an earlier patch
            return State("outdated", why=f"it holds an earlier patch; patch: {error}")
        return _landing(paths, ticket, repo)
    if failing:
        return failing
    if mr_error := _error(paths.step_error(ticket, repo, "mr")):
        return State("failed", "mr", mr_error)
    return (
        State("ready")
        if all(paths.gate_report(ticket, repo, g).exists() for g in gates)
        else State("planned")
    )


def _landed(paths: Paths, ticket: str, repo: str) -> State | None:
    landed = paths.repo_dir(ticket, repo) / "land.json"
    if landed.exists():
        done = read_json(landed)
        if done.get("state") == "merged":
            return State("landed", why=f"{done.get('commit', '')[:12]} on {done.get('into', '')}".strip())
        if done.get("state") == "nothing to land":
            return State("no change")
    return None


def _landing(paths: Paths, ticket: str, repo: str) -> State:
    """An open, current merge request's state: waiting, or failed at land, when landing said so."""
    error = _error(paths.step_error(ticket, repo, "land"))
    if error and "waiting" in error:
        return State("waiting", why=error.split("waiting: ", 1)[-1])
    return State("failed", "land", error) if error else State("open")


def _failing(paths: Paths, ticket: str, repo: str, gates: tuple[str, ...]) -> State | None:
    for gate in gates:
        report = paths.gate_report(ticket, repo, gate)
        if report.exists() and (got := GateReport.read(report)).status not in ("pass", "skipped"):
            return State("failed", f"gate {gate}", f"{got.status}: {got.summary}")
    return None


def _pushed(paths: Paths, ticket: str, repo: str) -> bool:
    record = _record(paths, ticket, repo)
    return record is not None and record.state == "open"


def _record(paths: Paths, ticket: str, repo: str) -> Record | None:
    path = paths.mr_json(ticket, repo)
    return Record.read(path) if path.exists() else None


def _error(path: Path) -> str:
    """A step's failure as recorded: its one line, without the `T-1/lib: step: ` it starts with."""
    if not path.exists():
        return ""
    line = path.read_text().strip().splitlines()[0] if path.read_text().strip() else ""
    parts = line.split(": ", 2)
    return parts[2] if len(parts) == 3 and "/" in parts[0] else line
