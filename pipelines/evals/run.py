"""One eval trial: the scenario's fixture repo in a fresh worktree, the prompt shipyard writes, the
skills installed, the real CLI under the guard and in the sandbox, answered by a recording (replay)
or by the model through a recording proxy (live); then its trajectory and outcome, graded."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipelines import git, mirrors, patches, planner, plugins, prompts, sandbox, templates, worktrees
from pipelines.agents import Job
from pipelines.config import GateSpec, Workspace
from pipelines.errors import StepError
from pipelines.evals import grade, replay, trajectory
from pipelines.evals.scenarios import Scenario
from pipelines.files import write_atomic
from pipelines.gates import GateJob, GateReport, Report, review
from pipelines.guard import PROTECTED
from pipelines.tickets import Ticket
from pipelines.yamlfile import validate


@dataclass(frozen=True)
class Trial:
    label: str  # the fixture it replayed (pass, fail, noop), or live-N
    passed: bool
    stale: str | None
    verdicts: tuple[grade.Verdict, ...]
    turns: int
    cost_usd: float
    error: str | None = None


def trial(
    workspace: Workspace,
    scenario: Scenario,
    source: Path,
    folder: Path,
    label: str,
    recording: list[dict[str, Any]] | None = None,
    live: bool = False,
    skills: tuple[str, ...] | None = None,
) -> tuple[Trial, replay.Traffic]:
    """Run the scenario once in `folder`, answered by `recording`, or `live` by the model the
    user's environment names (recorded on the way)."""
    git.remove_tree(folder)
    folder.mkdir(parents=True)
    fixture = _fixture(workspace, scenario, source, folder)
    work, home, log, prompt = folder / "work", folder / "home", folder / "guard.jsonl", folder / "prompt.md"
    settings = _agent_settings(scenario)
    agent = plugins.agent(settings.kind)
    hidden, enabled = (workspace.paths.state,), workspace.defaults.sandbox
    mirror, base, installed = folder / "mirror.git", "", ()
    if scenario.role == "planner":  # the fixture holds a folder per candidate repo, read in place
        shutil.copytree(fixture, work)
        repos = [
            {"name": name, "description": text, "tree": work / name} for name, text in scenario.repos.items()
        ]
        ticket = Ticket(id=scenario.name, title=scenario.ticket.title, body=scenario.ticket.body)
        text = templates.render(
            planner.TEMPLATE, ticket=ticket, named=[], skill=planner.SKILL.read_text(), repos=repos
        )
        box = sandbox.Box(
            cwd=work, writable=(home,), readable=(prompt,), hidden=hidden, read_only=True, enabled=enabled
        )
    else:
        git.seed_remote(folder / "remote.git", fixture)
        git.ensure_mirror(mirror, str(folder / "remote.git"))
        base = git.rev(mirror, "refs/remotes/origin/main") or ""
        git.checkout(mirror, work, base)
        box = worktrees.sandbox_of(mirror, work, home, readable=(prompt,), hidden=hidden, enabled=enabled)
        if scenario.role == "reviewer":
            planted = (source.parent / (scenario.patch or "")).read_bytes()
            git.apply(mirror, work, planted)
            text = _review_prompt(scenario, work, planted)
            box = replace(box, read_only=True)
        else:
            names = scenario.skills if skills is None else skills
            installed = _install(workspace, work, agent.SKILLS_DIR, names)
            text = _prompt(workspace, scenario, base, names, agent.SKILLS_DIR)
    write_atomic(prompt, text)
    write_atomic(log, "")
    # a replay answers at once or never: a CLI retrying a stale turn would wait minutes for nothing
    quick = {} if live else {"CLAUDE_CODE_MAX_RETRIES": "0"}
    env = worktrees.fresh_home(home, {"SHIPYARD_REPO": scenario.repo_name, **quick})
    transcript = folder / "transcript.jsonl"
    traffic = replay.Traffic(str(work), recording, live=live)
    job = Job(
        work, prompt, transcript, env, box, log, PROTECTED, read_only=scenario.role != "coder",
        model=traffic.answer,
    )  # fmt: skip
    transcripts = [transcript]
    result = agent.run(settings, job)
    reports = {name: _gate(mirror, work, base, folder, name, workspace) for name in scenario.gates}
    rounds = settings.repair_rounds if scenario.role == "coder" else 0
    for number in range(1, rounds + 1):  # as the patch step does: failing reports go back
        failing = [_failing(name, r) for name, r in reports.items() if r.status != "pass"]
        if not result.ok or not failing:
            break
        again = folder / "rounds" / str(number)
        write_atomic(
            again / "prompt.md", text + "\n" + templates.render(patches.REPAIR_TEMPLATE, reports=failing)
        )
        job = replace(job, prompt=again / "prompt.md", transcript=again / "transcript.jsonl")
        transcripts.append(job.transcript)
        result = agent.resume(settings, job, result.session) or result
        reports = {name: _gate(mirror, work, base, folder, name, workspace) for name in scenario.gates}
    patch = git.diff(mirror, work, base, exclude=installed).decode(errors="replace") if base else ""
    gates = {name: report.status for name, report in reports.items()}
    run = trajectory.read_all(transcripts, log)
    outcome = grade.Outcome(patch, gates, tuple(scenario.repos))
    verdicts = tuple(grade.grade(scenario, run, outcome))
    passed = grade.passed(verdicts) and traffic.stale is None
    return Trial(label, passed, traffic.stale, verdicts, run.turns, run.cost_usd, result.error), traffic


def _fixture(workspace: Workspace, scenario: Scenario, source: Path, folder: Path) -> Path:
    """The files the trial starts from: a folder beside the scenario, or a repo of repos.yaml
    exported at the scenario's commit."""
    if isinstance(scenario.fixture, str):
        return source.parent / scenario.fixture
    at = scenario.fixture
    if at.repo not in workspace.repos:
        raise StepError(f"{scenario.file}: fixture: no repo {at.repo!r} in repos.yaml")
    mirror = mirrors.ensure(workspace.paths, at.repo, workspace.repos[at.repo])
    target = folder / "fixture" / at.repo
    git.export(mirror, at.commit, target)
    return target


def _review_prompt(scenario: Scenario, work: Path, planted: bytes) -> str:
    ticket = Ticket(id=scenario.name, title=scenario.ticket.title, body=scenario.ticket.body)
    return templates.render(
        review.TEMPLATE, ticket=ticket, repo=scenario.repo_name, tree=str(work), instructions="",
        patch=planted.decode(errors="replace").rstrip("\n"),
    )  # fmt: skip


def _agent_settings(scenario: Scenario) -> Any:
    backend = plugins.load("agents", scenario.agent.get("kind", ""))
    return validate(backend.Settings, scenario.agent, scenario.file, {}, ("agent",))


def _install(workspace: Workspace, work: Path, folder: str | None, names: tuple[str, ...]) -> tuple[str, ...]:
    if folder is None:
        return ()
    for name in names:
        shutil.copytree(workspace.skills[name].path.parent, work / folder / name)
    return tuple(f"{folder}/{name}" for name in names)


def _prompt(
    workspace: Workspace, scenario: Scenario, base: str, names: tuple[str, ...], folder: str | None
) -> str:
    ticket = Ticket(id=scenario.name, title=scenario.ticket.title, body=scenario.ticket.body)
    repo = {
        "name": scenario.repo_name,
        "description": "",
        "base": base,
        "instructions": "",
        "after": (),
        "conflict": "",
    }
    return templates.render(
        prompts.TEMPLATE, ticket=ticket, repo=repo, siblings=[], skills=[workspace.skills[n] for n in names],
        gates=list(scenario.gates), skills_dir=folder, env=False,
    )  # fmt: skip


def _failing(name: str, report: Report) -> dict[str, Any]:
    """A report as the repair prompt shows it."""
    tail = "\n".join(report.log.strip().splitlines()[-30:])
    return {**GateReport.of(name, None, report).model_dump(mode="json"), "log_tail": tail}


def _gate(mirror: Path, work: Path, base: str, folder: Path, name: str, workspace: Workspace) -> Report:
    """The real gate `name` on the worktree as the agent left it."""
    gate = GateSpec(name=name)
    home = folder / "gates" / name
    box = worktrees.sandbox_of(
        mirror, work, home, hidden=(workspace.paths.state,), enabled=workspace.defaults.sandbox
    )
    changed = tuple(git.changed(mirror, work, base))
    job = GateJob(work, changed, worktrees.fresh_home(home), box, mirror, base)
    return plugins.gate(gate.plugin).check(gate, job)
