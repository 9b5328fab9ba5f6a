"""Gates check a change deterministically: the family's types. Each backend is one module with
the members of `Gate`; the `gate:ID/REPO/GATE` step that runs them is `pipelines.checks`.

Every gate returns the same report: status pass | fail | error (could not evaluate, never a
pass), findings (file, line, rule, message), the command and the tool's version.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from pipelines import sandbox
from pipelines.files import write_json
from pipelines.sandbox import Box

if TYPE_CHECKING:
    from pipelines.change import Change
    from pipelines.config import GateSpec


@dataclass(frozen=True)
class Finding:
    file: str
    line: int | None
    rule: str
    message: str


@dataclass(frozen=True)
class Report:
    status: str  # pass | fail | error | skipped (an empty patch: nothing to check)
    findings: tuple[Finding, ...] = ()  # what the change brings (all of them in strict mode)
    command: tuple[str, ...] = ()
    summary: str = ""
    log: str = field(default="", repr=False)
    pre_existing: tuple[Finding, ...] = ()  # found on the base commit too: they do not fail the gate
    env: str | None = None  # the key of the repo's env the gate ran in (None: shipyard's own Python)
    patch_sha256: str | None = None  # a verdict on one patch (a reviewer's): the sha256 of what it read


class GateReport(BaseModel):
    """`gates/GATE.json`: one gate's report on one patch, as the gate step writes it and every
    reader reads it back."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    gate: str
    tool_version: str | None
    status: str
    findings: tuple[Finding, ...] = ()
    command: tuple[str, ...] = ()
    summary: str = ""
    pre_existing: tuple[Finding, ...] = ()
    env: str | None = None
    warning: str | None = None  # `sandbox: off`: the gate ran unconfined
    patch_sha256: str | None = None  # a review: the patch its verdict is for (another one's never counts)

    @classmethod
    def of(cls, gate: str, version: str | None, report: Report, warning: str | None = None) -> GateReport:
        data = {k: v for k, v in asdict(report).items() if k != "log"}
        return cls(gate=gate, tool_version=version, warning=warning, **data)

    @classmethod
    def read(cls, path: Path) -> GateReport:
        return cls.model_validate_json(path.read_bytes())

    def write(self, path: Path) -> None:
        write_json(path, self.model_dump(mode="json"))


@dataclass(frozen=True)
class GateJob:
    tree: Path
    changed: tuple[str, ...]  # files the patch adds or modifies, relative to the tree
    env: dict[str, str] = field(repr=False)
    box: Box  # the sandbox the gate's tool runs in
    mirror: Path | None = None  # the repo's mirror, which holds `base` (None: a plain folder)
    base: str | None = None
    python: str = sys.executable  # the repo env's interpreter, or shipyard's own (`env: none`)
    # the ticket's change in this repo, and the tree's diff against `base` (patch.diff on verify/,
    # the agent's diff between repair rounds): what a reviewer reads (None: a tree outside a ticket)
    change: Change | None = field(default=None, repr=False)
    patch: bytes | None = field(default=None, repr=False)

    def run(self, argv: Sequence[str], timeout: float) -> tuple[int | None, bytes]:
        """Run the gate's tool in the tree, in the sandbox; (None, output) on a timeout."""
        return sandbox.run(argv, self.box, self.env, timeout)


@dataclass(frozen=True)
class Configured:
    """Where a repo configures a gate: what a patch may not change, since the gate judges the
    patch by the base's rules."""

    files: tuple[str, ...] = ()  # gitignore-style globs of files that configure it (at any depth)
    tables: tuple[str, ...] = ()  # its tables in pyproject.toml, dotted: "tool.ruff"
    sections: tuple[str, ...] = ()  # its sections in setup.cfg and tox.ini; "coverage:" is a prefix


class Gate(Protocol):
    """A gate backend: a module with these members."""

    RUNS_CODE: bool  # it runs the repo's code: in the repo's own env
    BASELINE: bool  # its findings can be set against the base's (False: always strict)
    CONFIGURED: Configured  # where the repo configures it

    def version(self, gate: GateSpec) -> str | None: ...

    def check(self, gate: GateSpec, job: GateJob) -> Report: ...


def count(number: int, noun: str) -> str:
    """`1 finding`, `2 findings`: a number and its noun, as a person writes them."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def not_installed(tool: str) -> Report:
    return Report("error", summary=f"{tool} is not installed; pip install 'shipyard[gates]'")


def python_files(changed: Iterable[str]) -> list[str]:
    return [f for f in changed if f.endswith((".py", ".pyi"))]


def own_config(tree: Path, candidates: dict[str, str]) -> bool:
    """Whether the repo root configures a tool itself: {file name: section that must be in it}.

    Without their own config, ruff and pytest would climb out of the repo into whatever folder
    holds state/ (shipyard's own checkout, with its own settings) and judge by those.
    """
    for name, section in candidates.items():
        path = tree / name
        if path.is_file() and (not section or section in path.read_text(errors="replace")):
            return True
    return False
