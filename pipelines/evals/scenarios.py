"""Eval scenarios: `skills/<skill>/evals/*.yaml` (suite: the skill) and `evals/*.yaml` (suite:
shipyard), each checked as every input is, with one line naming the file, the key and what was
expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from pipelines import globs, yamlfile
from pipelines.errors import InputError

SHIPYARD = "shipyard"  # the suite of evals/
FIXTURES = ("pass", "fail", "noop")  # <scenario>.<kind>.jsonl: recorded model traffic


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolCall(Strict):
    tool: str
    contains: str | None = None  # in the arguments, as JSON text
    match: str | None = None  # a regex searched in the arguments


class Expectation(Strict):
    """One expectation: exactly one of these keys."""

    tool_call: ToolCall | None = None
    no_tool_call_matching: ToolCall | None = None
    guard_refused: str | None = None  # a rule of the guard (git-push, outside-worktree, ...)
    max_turns: int | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, ge=0)
    touches: tuple[globs.Glob, ...] | None = None  # the patch changes a path matching each
    does_not_touch: tuple[globs.Glob, ...] | None = None
    contains: str | None = None  # the patch adds this text
    lacks: str | None = None  # the patch adds no line with this text
    gates_pass: tuple[str, ...] | None = None  # the real gates, on the patch
    final_message_contains: str | None = None
    plans: tuple[str, ...] | None = None  # a planner's valid answer chooses exactly these repos
    verdict: Literal["approve", "request_changes"] | None = None  # a reviewer's valid answer

    @model_validator(mode="after")
    def _one_key(self) -> Expectation:
        given = [k for k, v in self if v is not None]
        if len(given) != 1:
            known = ", ".join(type(self).model_fields)
            raise PydanticCustomError("one_key", "expected exactly one of: {known}", {"known": known})
        return self

    @property
    def kind(self) -> str:
        return next(k for k, v in self if v is not None)

    @property
    def negative(self) -> bool:
        """Met by doing nothing: it needs a positive expectation beside it."""
        return self.kind in ("no_tool_call_matching", "does_not_touch", "lacks", "max_turns", "max_cost_usd")


class RepoAt(Strict):
    """A fixture that is a repo of repos.yaml at one commit."""

    repo: str
    commit: str = Field(pattern=r"^[0-9a-f]{7,40}$")


class Ticket(Strict):
    title: str
    body: str


class Scenario(Strict):
    name: str
    checks: str  # what it checks, in a sentence
    fixture: str | RepoAt = "repo"  # a folder beside the scenario, or {repo: NAME, commit: SHA}
    ticket: Ticket
    agent: dict[str, Any] = {"kind": "claude-code", "max_turns": 10}
    skills: tuple[str, ...] = ()  # installed for the run (compare=skills runs without them too)
    gates: tuple[str, ...] = ()  # gates `gates_pass` may name, run on the patch
    role: Literal["coder", "planner", "reviewer"] = "coder"
    repos: dict[str, str] = {}  # a planner's candidates: a folder of the fixture each, and its description
    patch: str | None = None  # a reviewer's patch: a file beside the scenario, applied to the fixture
    trials: int = Field(default=1, gt=0)
    budget_usd: float | None = Field(default=None, ge=0)  # what its live trials may cost in all
    in_order: bool = False  # the tool_call expectations happen in the order written
    expect: tuple[Expectation, ...]
    # where it was read from; the suite is its skill's name, or shipyard's own
    file: str = ""
    suite: str = SHIPYARD

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"

    @property
    def repo_name(self) -> str:
        return self.fixture.repo if isinstance(self.fixture, RepoAt) else self.fixture


class Suite(Strict):
    """`suite.yaml` beside a suite's scenarios (optional)."""

    min_pass_rate: float = Field(default=1.0, ge=0, le=1)


def discover(root: Path) -> dict[str, tuple[Path, str]]:
    """Every scenario file of the workspace: {SUITE/NAME: (file, suite)}."""
    found: dict[str, tuple[Path, str]] = {}
    places = [(root / "evals", SHIPYARD)]
    places += [(p, p.parent.name) for p in sorted((root / "skills").glob("*/evals")) if p.is_dir()]
    for folder, suite in places:
        for path in sorted(folder.glob("*.yaml")):
            if path.name != "suite.yaml":
                found[f"{suite}/{path.stem}"] = (path, suite)
    return found


def load(path: Path, suite: str, root: Path) -> Scenario:
    """One scenario; InputError (one line) for anything wrong with it."""
    file = path.relative_to(root).as_posix()
    data, lines = yamlfile.load(path.read_text(), file)
    if not isinstance(data, dict):
        raise InputError(file, "", "expected a mapping of a scenario's keys", 1)
    data = {"name": path.stem, **data, "file": file, "suite": suite}
    scenario = yamlfile.validate(Scenario, data, file, lines)
    positive = [e for e in scenario.expect if not e.negative]
    if not positive:
        index = next((i for i, e in enumerate(scenario.expect) if e.negative), 0)
        raise InputError(
            file, f"expect[{index}]",
            "a negative expectation needs a positive one beside it (a run that does nothing would pass)",
            yamlfile.line_of(lines, ("expect", index)),
        )  # fmt: skip
    if isinstance(scenario.fixture, str) and not (folder := path.parent / scenario.fixture).is_dir():
        raise InputError(file, "fixture", f"expected a folder {folder.relative_to(root)} beside the scenario")
    unknown = [g for e in scenario.expect for g in (e.gates_pass or ()) if g not in scenario.gates]
    if unknown:
        raise InputError(file, "expect", f"gates_pass names {unknown[0]!r}; list it under gates: first")
    return scenario


def suite_of(path: Path, root: Path) -> Suite:
    settings = path.parent / "suite.yaml"
    if not settings.exists():
        return Suite()
    file = settings.relative_to(root).as_posix()
    data, lines = yamlfile.load(settings.read_text(), file)
    return yamlfile.validate(Suite, data or {}, file, lines)


def fixtures(path: Path) -> dict[str, Path]:
    """The scenario's recorded model traffic, by kind: pass, fail, noop."""
    return {kind: f for kind in FIXTURES if (f := path.with_name(f"{path.stem}.{kind}.jsonl")).exists()}
