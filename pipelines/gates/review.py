"""A second agent reviews the patch: read-only, told the ticket, the repo's instructions and the
patch (never the coding agent's transcript), it answers a verdict. `approve` passes; `request_changes`
fails with its comments as findings, which a repair round hands to the coding agent like any report.

The verdict is bound to the patch it read: the report records the patch's sha256, and the mr step
refuses a review of any other patch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines import plugins, spend, templates
from pipelines.agents import Job, Result
from pipelines.config import GateSpec
from pipelines.errors import StepError
from pipelines.files import read_json, write_atomic
from pipelines.gates import Configured, Finding, GateJob, Report, count
from pipelines.sandbox import Box

if TYPE_CHECKING:
    from pipelines.change import Change

RUNS_CODE: bool = False  # it reads the tree; nothing of the repo's runs
BASELINE: bool = False  # a verdict on this patch: there is nothing on the base to set it against
CONFIGURED = Configured()  # by its settings in repos.yaml and shipyard's template

TEMPLATE = "review.md.j2"
VERDICT = "verdict.json"  # in the attempt folder, once the answer was a verdict
FENCED = re.compile(r"\A```[a-z]*\n(.*)\n```\Z", re.DOTALL)  # a model may fence its JSON anyway


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str
    line: int | None = None
    severity: str = Field(min_length=1)
    message: str = Field(min_length=1)


class Verdict(BaseModel):
    """What the reviewer answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    verdict: Literal["approve", "request_changes"]
    comments: tuple[Comment, ...] = ()


def agent_settings(gate: GateSpec) -> Any:
    """The reviewer's agent: its backend's Settings (config has checked them)."""
    assert gate.agent is not None  # config refuses a review gate without one
    return plugins.load("agents", gate.agent["kind"]).Settings.model_validate(gate.agent)


def version(gate: GateSpec) -> str | None:
    agent = gate.agent or {}
    return " ".join(str(agent[key]) for key in ("kind", "model") if agent.get(key)) or None


def box(job: GateJob) -> Box:
    """The reviewer's sandbox: the tree, the mirror and the workspace only read; its HOME (and
    TMPDIR in it) the one place it writes."""
    return replace(job.box, read_only=True, writable=(Path(job.env["HOME"]),), env={})


def check(gate: GateSpec, job: GateJob) -> Report:
    change, patch = job.change, job.patch
    if change is None or patch is None:
        return Report("error", summary="a review gate reviews a ticket's patch: run it in a gate step")
    if not patch:
        return Report("pass", summary="empty patch: nothing to review")
    settings = agent_settings(gate)
    command = ("review", settings.kind)
    digest = hashlib.sha256(patch).hexdigest()
    folder = change.paths.repo_dir(change.ticket_id, change.repo)
    text = _prompt(change, job.tree, patch)
    # what identifies the question: the reviewer and its prompt, wherever the tree is checked out
    question = text.replace(str(job.tree), "TREE")
    asked = hashlib.sha256(f"{settings.model_dump_json()}\0{question}".encode()).hexdigest()
    if (earlier := _answered(folder, asked)) is not None:  # the same question: its answer stands
        return _report(parse(earlier.read_text()), command, _reused(change, earlier, digest), digest)
    try:
        spend.check(change.paths, change.ticket_id, change.settings.budget_usd, "the reviewer")
    except StepError as err:
        return Report("error", command=command, summary=str(err))
    attempt = spend.begin(folder, "review", inputs=asked)
    prompt, guard_log = attempt / "prompt.md", attempt / "guard.jsonl"
    write_atomic(prompt, text)
    write_atomic(guard_log, "")
    reviewer = Job(
        job.tree, prompt, attempt / "transcript.jsonl", job.env, box(job), guard_log,
        change.settings.spec.protect, read_only=True,
    )  # fmt: skip
    result = plugins.agent(settings.kind).run(settings, reviewer)
    spend.end(attempt, result)
    log = _log(change.paths.relative(attempt), settings, digest, result)
    if not result.ok:
        return Report("error", (), command, f"the reviewer failed: {result.error}", log, patch_sha256=digest)
    try:
        verdict = parse(result.answer or "")
    except ValueError as err:
        return Report("error", (), command, str(err), log, patch_sha256=digest)
    write_atomic(attempt / VERDICT, verdict.model_dump_json())
    return _report(verdict, command, log, digest)


def _report(verdict: Verdict, command: tuple[str, ...], log: str, digest: str) -> Report:
    if verdict.verdict == "approve":
        return Report("pass", (), command, "approved", log, patch_sha256=digest)
    findings = tuple(Finding(c.file, c.line, c.severity, c.message) for c in verdict.comments)
    summary = f"changes requested: {count(len(findings), 'comment')}"
    return Report("fail", findings, command, summary, log, patch_sha256=digest)


def _answered(folder: Path, asked: str) -> Path | None:
    """The verdict of an earlier review of this very patch, settings and prompt, if one was
    given: a rerun does not pay for the same question twice."""
    root = folder / spend.ATTEMPTS
    numbered = [p for p in root.iterdir() if p.name.isdigit()] if root.is_dir() else []
    for attempt in sorted(numbered, key=lambda p: int(p.name), reverse=True):
        usage = attempt / spend.USAGE
        if (attempt / VERDICT).exists() and usage.exists() and read_json(usage).get("inputs") == asked:
            return attempt / VERDICT
    return None


def _reused(change: Change, verdict: Path, digest: str) -> str:
    earlier = change.paths.relative(verdict.parent)
    return f"reviewer: the verdict of {earlier}, on this same patch\npatch: sha256 {digest}\n"


def parse(answer: str) -> Verdict:
    """The reviewer's answer as a Verdict; a ValueError of one line when it is not one."""
    text = answer.strip()
    if fenced := FENCED.match(text):
        text = fenced.group(1)
    try:
        return Verdict.model_validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        why = f"{where}: {first['msg']}" if where else first["msg"]
        raise ValueError(f"the reviewer's answer is not the JSON verdict asked for ({why})") from None


def _prompt(change: Change, tree: Path, patch: bytes) -> str:
    return templates.render(  # the patch goes in a data block its own text cannot close
        TEMPLATE,
        ticket=change.ticket,
        repo=change.repo,
        tree=str(tree),
        instructions=change.entry.instructions,
        patch=patch.decode(errors="replace").rstrip("\n"),
    )


def _log(attempt: str, settings: Any, digest: str, result: Result) -> str:
    model = f", model {settings.model}" if getattr(settings, "model", None) else ""
    lines = [
        f"reviewer: {settings.kind}{model}, read-only",
        f"patch: sha256 {digest}",
        f"transcript: {attempt}/transcript.jsonl",
        f"cost: {result.cost_usd if result.cost_usd is not None else 'unknown'} USD",
        "",
        "answer:",
        result.answer if result.answer is not None else "(none)",
    ]
    return "\n".join(lines) + "\n"


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import review as this

    _: Gate = this
