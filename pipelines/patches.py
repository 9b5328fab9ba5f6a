"""The `patch:ID/REPO` step: the agent edits a worktree at the base; the patch is its diff."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from pipelines import checks, git, guard, plugins, retries, sandbox, spend, templates, worktrees
from pipelines.agents import Agent, Job, Result
from pipelines.change import Change
from pipelines.errors import StepError
from pipelines.files import read_json, write_atomic, write_json
from pipelines.gates import GateReport
from pipelines.guard import judged

REPAIR_TEMPLATE = "repair.md.j2"
AFTER_THE_RUN = {"retries"}  # agent settings that change what happens after a run, not the run
Ran = TypeVar("Ran", bound=Result | None)  # a run's result; None from a second turn never taken


def inputs(change: Change) -> list[Path]:
    """The files the agent works from: its prompt, the agent's own `inputs`, the skills' files."""
    workspace = change.workspace
    files = [change.paths.prompt(change.ticket_id, change.repo)]
    files += [workspace.paths.root / i for i in change.settings.agent.inputs]
    files += [f for name in change.entry.skills for f in workspace.skills[name].files()]
    return files


def digest(change: Change) -> str:
    """What identifies one agent run: its settings and the content of its inputs."""
    settings = change.settings
    agent = json.dumps(agent_settings(change), separators=(",", ":"), ensure_ascii=False)  # as pydantic's
    h = hashlib.sha256(agent.encode() + repr(settings.spec.protect).encode())
    h.update(repr(change.ticket.allow_config).encode())
    for path in inputs(change):
        h.update(change.paths.relative(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def agent_settings(change: Change) -> dict[str, Any]:
    """The agent's settings that shape its run: changing one runs the agent again."""
    dumped = change.settings.agent.model_dump(mode="json")
    return {key: value for key, value in dumped.items() if key not in AFTER_THE_RUN}


def finished(change: Change, key: str) -> bool:
    """Whether this very run already finished (doit lost its record to a kill): keep its patch."""
    paths, tid, repo = change.paths, change.ticket_id, change.repo
    record = paths.agent_json(tid, repo)
    if not (record.exists() and paths.patch(tid, repo).exists()):
        return False
    data = read_json(record)
    return data.get("status") == "done" and data.get("inputs") == key


def make(change: Change) -> None:
    paths, tid, repo, settings = change.paths, change.ticket_id, change.repo, change.settings
    workspace = change.workspace
    key = digest(change)
    if finished(change, key):
        print(f"{change.name}: the agent already finished this patch; `doit clean` it to run again")
        return
    retries.check(change, key)
    spend.check(paths, tid, settings.budget_usd, f"{change.name}: patch")
    agent = plugins.agent(settings.agent.kind)
    work = paths.work(tid, repo)
    mirror = worktrees.base_mirror(workspace, repo, change.base)
    git.checkout(mirror, work, change.base)
    installed = _install_skills(change, work, agent.SKILLS_DIR)
    write_atomic(paths.guard_log(tid, repo), "")
    shutil.rmtree(paths.repo_dir(tid, repo) / "rounds", ignore_errors=True)
    # a model agent runs the repo's tests while it works: in the repo's env (a codemod brings its own)
    try:
        repo_env = worktrees.environment(workspace, tid, repo, change.base) if agent.USES_ENV else None
    except StepError as err:
        raise change.fail("patch", str(err)) from None
    home = paths.home(tid, repo)
    variables = worktrees.fresh_home(home, _variables(change))
    env = worktrees.activate(variables, repo_env, [work])
    box = worktrees.box(workspace, repo, work, home, workspace.network(repo))
    box = box.allow(readable=[paths.prompt(tid, repo), *([repo_env.root] if repo_env else [])])
    if box.enabled and (why := sandbox.problem()):
        raise change.fail("patch", f"no sandbox, so no agent: {why} (or `sandbox: off`)")
    job = Job(
        work, paths.prompt(tid, repo), paths.transcript(tid, repo), env, box,
        paths.guard_log(tid, repo), settings.spec.protect,
    )  # fmt: skip
    retries.release(paths, tid, repo)  # from here on a kill is no failure of the agent's
    usage: dict[str, Any] = {"agent": settings.agent.kind, "inputs": key}
    said = [*([] if workspace.sandboxed(repo) else ["sandbox: off; the agent ran unconfined"]),
            *([change.allowed_config] if change.allowed_config else [])]  # fmt: skip
    if said:
        usage["warning"] = "; ".join(said)
    result, rounds, stopped = _runs(change, key, agent, job, installed)
    usage["repair_rounds"] = rounds
    usage.update((k, v) for k, v in vars(result).items() if k not in ("ok", "session"))
    usage["total_cost_usd"] = spend.cost(paths.repo_dir(tid, repo))  # every attempt's, reviews' too
    if stopped is not None:
        write_json(paths.agent_json(tid, repo), {**usage, "status": "stopped", "error": str(stopped)})
        raise stopped
    if not result.ok:
        if not result.blameless:  # an unreachable API or a missing key holds nothing: the next ship retries
            retries.hold(change, key, result)
        write_json(paths.agent_json(tid, repo), {**usage, "status": "failed"})
        raise change.fail("patch", str(result.error))
    patch = git.diff(mirror, work, change.base, exclude=installed)
    if refusals := _refusals(change, mirror, work, patch, installed):
        for refusal in refusals:
            guard.record(paths.guard_log(tid, repo), "patch", None, refusal)
        write_json(paths.agent_json(tid, repo), {**usage, "status": "refused"})
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        log = paths.relative(paths.guard_log(tid, repo))
        raise change.fail("patch", f"the guard refused it: {refusals[0].reason}{more}; see {log}")
    write_atomic(paths.patch(tid, repo), patch)
    write_json(paths.agent_json(tid, repo), {**usage, "status": "done"})


def _refusals(change: Change, mirror: Path, work: Path, patch: bytes, installed: tuple[str, ...]) -> list:
    """What the guard refuses in the finished patch: its policy, read from git's machine output,
    and any change to how the repo's gates judge it (judged by the base's rules)."""
    changes = git.raw_diff(mirror, work, change.base, exclude=installed)
    found = guard.check_patch(patch.decode(errors="replace"), change.settings.spec.protect, changes, work)
    configured = [(g.name, plugins.gate(g.plugin).CONFIGURED) for g in change.settings.gates]
    paths = [p for c in changes for p in c.paths]
    return found + judged.refusals(
        configured,
        paths,
        partial(git.blob, mirror, change.base),
        partial(_file, work),
        change.ticket.allow_config,
    )


def _refused(change: Change, work: Path, installed: tuple[str, ...]) -> bool:
    """Whether the worktree as the agent left it would be refused: then no gate may run on it (a
    link out of the tree would show a gate what it points at)."""
    mirror = change.paths.mirror(change.repo)
    return bool(
        _refusals(change, mirror, work, git.diff(mirror, work, change.base, exclude=installed), installed)
    )


def _file(tree: Path, path: str) -> bytes | None:
    """A regular file of the tree, as the patch leaves it (None: gone, or not a plain file)."""
    target = tree / path
    return target.read_bytes() if target.is_file() and not target.is_symlink() else None


def _runs(
    change: Change, key: str, agent: Agent, job: Job, installed: tuple[str, ...]
) -> tuple[Result, int, StepError | None]:
    """The agent's run, then repair rounds while gates fail: the last result, the number of
    rounds, and the budget's refusal if it stopped a round from starting."""
    settings = change.settings.agent
    result = _attempt(change, "agent", key, job, partial(agent.run, settings, job))
    rounds = 0
    while result.ok and rounds < settings.repair_rounds:
        if _refused(change, job.worktree, installed):  # refused whatever a round does: no gate runs on it
            break
        failing = _failing_gates(change, job.worktree, installed)
        if not failing:
            break
        what = f"{change.name}: patch, repair round {rounds + 1}"
        try:
            spend.check(change.paths, change.ticket_id, change.settings.budget_usd, what)
        except StepError as err:
            return result, rounds, err
        rounds += 1
        job = _repair_job(change, rounds, failing, job)
        again = _attempt(change, "repair", key, job, partial(agent.resume, settings, job, result.session))
        if again is None:
            break
        result = again
    return result, rounds, None


def _attempt(change: Change, role: str, key: str, job: Job, run: Callable[[], Ran]) -> Ran:
    """One agent run, recorded as its own attempt (spend.py): started before, ended after."""
    attempt = spend.begin(change.paths.repo_dir(change.ticket_id, change.repo), role, inputs=key)
    result = run()
    if result is None:  # the agent takes no second turn: nothing ran
        shutil.rmtree(attempt)
    else:
        spend.end(attempt, result, job.transcript)
    return result


def _variables(change: Change) -> dict[str, str]:
    return {
        "SHIPYARD_ROOT": str(change.paths.root),
        "SHIPYARD_TICKET": change.ticket_id,
        "SHIPYARD_REPO": change.repo,
        "SHIPYARD_PROMPT": str(change.paths.prompt(change.ticket_id, change.repo).resolve()),
    }


def _install_skills(change: Change, work: Path, folder: str | None) -> tuple[str, ...]:
    """Copy the repo's skills where the agent reads them; they never reach the patch."""
    if folder is None:
        return ()
    installed = []
    for name in change.entry.skills:
        target = work / folder / name
        if target.exists() or target.is_symlink():  # the repo ships a skill of that name: its own wins
            continue
        if not target.parent.resolve().is_relative_to(work.resolve()):
            continue  # the base has a symlink there, out of the worktree: nothing is written through it
        shutil.copytree(change.workspace.skills[name].path.parent, target)
        installed.append(f"{folder}/{name}")
    return tuple(installed)


def _failing_gates(change: Change, work: Path, installed: tuple[str, ...]) -> list[dict[str, Any]]:
    """The repo's gates run on the agent's worktree as it stands; the reports that did not pass."""
    failing = []
    for gate in change.settings.gates:
        report = checks.check(change, gate, work, exclude=installed)
        if report.status != "pass":
            lines = report.log.strip().splitlines()[-30:]
            record = GateReport.of(gate.name, checks.version(gate), report)
            failing.append({**record.model_dump(mode="json"), "log_tail": "\n".join(lines)})
    return failing


def _repair_job(change: Change, number: int, failing: list[dict[str, Any]], job: Job) -> Job:
    """Repair round N: its prompt (the failing reports) and transcript go in rounds/N/."""
    folder = change.paths.round_dir(change.ticket_id, change.repo, number)
    write_json(folder / "gates.json", failing)
    prompt = folder / "prompt.md"
    first = change.paths.prompt(change.ticket_id, change.repo).read_text()
    write_atomic(prompt, first + "\n" + templates.render(REPAIR_TEMPLATE, reports=failing))
    return replace(job, prompt=prompt, transcript=folder / "transcript.jsonl")
