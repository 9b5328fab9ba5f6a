"""The `eval:SUITE/SCENARIO` step and the report of every result.

Replay (the default): the scenario's pass fixture must pass and each other fixture must fail, or
the scenario is **vacuous**; a recording the CLI no longer matches makes it **stale**. Live: `k`
trials against the model, pass@k (one passed) and pass^k (all passed); `record` keeps each trial's
traffic beside the scenario as a new fixture; `compare=skills` runs the trials without the
scenario's skills too, to show whether they help.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines import pages
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.evals import replay, run, scenarios
from pipelines.files import read_json, write_atomic, write_json


@dataclass(frozen=True)
class Mode:
    live: bool = False
    record: bool = False
    trials: int | None = None  # live: how many (default: the scenario's `trials`)
    compare_skills: bool = False


def folder(workspace: Workspace, key: str) -> Path:
    return workspace.paths.state / "evals" / key


def make(workspace: Workspace, key: str, mode: Mode) -> None:
    """Evaluate one scenario; its result.json says pass, fail, vacuous, stale or error."""
    root = workspace.paths.root
    path, suite = scenarios.discover(root)[key]
    scenario = scenarios.load(path, suite, root)
    target = folder(workspace, key) / "result.json"
    previous = read_json(target).get("status") if target.exists() else None
    result = _live(workspace, scenario, path, mode) if mode.live else _replay(workspace, scenario, path)
    write_json(target, {"scenario": key, "checks": scenario.checks, "previous": previous, **result})


def _replay(workspace: Workspace, scenario: scenarios.Scenario, path: Path) -> dict[str, Any]:
    fixtures = scenarios.fixtures(path)
    if missing := [kind for kind in ("pass", "fail") if kind not in fixtures]:
        record = f"record one: doit eval:{scenario.key} live=1 record=1"
        return {
            "status": "error",
            "why": f"no {path.stem}.{missing[0]}.jsonl, to prove it can {missing[0]} ({record})",
        }
    trials = []
    for kind, fixture in fixtures.items():
        where = folder(workspace, scenario.key) / kind
        trial, _ = run.trial(workspace, scenario, path, where, kind, recording=replay.load(fixture))
        trials.append(trial)
    by = {t.label: t for t in trials}
    stale = next((t for t in trials if t.stale), None)
    if stale is not None:
        status, why = "stale", f"{stale.label}: {stale.stale}; record it again live"
    elif not by["pass"].passed:
        status, why = (
            "fail",
            "; ".join(v.why for v in by["pass"].verdicts if not v.met) or str(by["pass"].error),
        )
    elif passing := [t.label for t in trials if t.label != "pass" and t.passed]:
        status, why = "vacuous", f"the {', '.join(passing)} fixture passes too: the scenario cannot fail"
    else:
        status, why = "pass", ""
    return {"status": status, "why": why, "trials": [_trial(t) for t in trials]}


def _live(workspace: Workspace, scenario: scenarios.Scenario, path: Path, mode: Mode) -> dict[str, Any]:
    k = mode.trials or scenario.trials
    variants = [("with", None)] + ([("without", ())] if mode.compare_skills and scenario.skills else [])
    outcome: dict[str, Any] = {}
    for variant, skills in variants:
        trials = []
        for number in range(1, k + 1):
            done = [t for v in outcome.values() for t in v["runs"]] + trials
            spent, budget = sum(t.cost_usd for t in done), scenario.budget_usd
            if budget is not None and spent >= budget:
                why = f"spent {spent:.2f} of {budget:.2f} USD (budget_usd); trial {number} not started"
                return {"status": "error", "why": why, "k": k}
            where = folder(workspace, scenario.key) / f"live-{variant}-{number}"
            trial, traffic = run.trial(
                workspace, scenario, path, where, f"live-{number}", live=True, skills=skills
            )
            trials.append(trial)
            if mode.record and variant == "with":
                replay.save(path.with_name(f"{path.stem}.live-{number}.jsonl"), traffic)
        outcome[variant] = {
            "pass_at_k": any(t.passed for t in trials),
            "pass_all_k": all(t.passed for t in trials),
            "pass_rate": sum(t.passed for t in trials) / k,
            "turns": sum(t.turns for t in trials) / k,
            "cost_usd": sum(t.cost_usd for t in trials),
            "trials": [_trial(t) for t in trials],
            "runs": trials,
        }
    for variant in outcome.values():
        del variant["runs"]
    main = outcome["with"]
    status = "pass" if main["pass_all_k"] else "fail"
    return {"status": status, "why": "" if status == "pass" else f"pass rate {main['pass_rate']:.2f}",
            "k": k, "live": outcome}  # fmt: skip


def _trial(trial: run.Trial) -> dict[str, Any]:
    data = asdict(trial)
    data["verdicts"] = [asdict(v) for v in trial.verdicts]
    return data


ROW = "| {scenario} | {status} | {checks} | {why} |"


EVALS_PAGE = "evals.html.j2"


def report(workspace: Workspace, keys: list[str]) -> None:
    """state/evals/report.md and the table; a StepError when a suite is below its min_pass_rate
    or a scenario that passed before does not now."""
    if not keys:
        print("no eval scenario found: they are evals/*.yaml and skills/*/evals/*.yaml")
        return
    results = [read_json(p) for key in keys if (p := folder(workspace, key) / "result.json").exists()]
    lines = ["# Evals", "", "| scenario | status | checks | why |", "| --- | --- | --- | --- |"]
    lines += [
        ROW.format(**{k: str(r.get(k) or "") for k in ("scenario", "status", "checks", "why")})
        for r in results
    ]
    live = [(r["scenario"], variant, v) for r in results for variant, v in (r.get("live") or {}).items()]
    if live:  # with and without the skill, when compare=skills asked for both
        lines += [
            "",
            "| scenario (live) | skills | pass rate | pass@k | pass^k | turns | cost |",
            "| --- " * 7 + "|",
        ]
        lines += [f"| {key} | {variant} | {v['pass_rate']:.2f} | {v['pass_at_k']} | {v['pass_all_k']} | "
                  f"{v['turns']:.1f} | ${v['cost_usd']:.2f} |" for key, variant, v in live]  # fmt: skip
    suites: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        suites.setdefault(result["scenario"].split("/")[0], []).append(result)
    problems, root, rates = [], workspace.paths.root, []
    lines += ["", "| suite | passed | pass rate | min |", "| --- | --- | --- | --- |"]
    for suite, members in suites.items():
        passed = sum(r["status"] == "pass" for r in members)
        rate = passed / len(members)
        first = scenarios.discover(root)[members[0]["scenario"]][0]
        least = scenarios.suite_of(first, root).min_pass_rate
        lines.append(f"| {suite} | {passed} of {len(members)} | {rate:.2f} | {least:.2f} |")
        rates.append({"name": suite, "passed": passed, "total": len(members), "rate": rate, "least": least})
        if rate < least:
            problems.append(f"suite {suite}: pass rate {rate:.2f} below its min_pass_rate {least:.2f}")
    problems += [f"{r['scenario']}: passed before, {r['status']} now" for r in results
                 if r.get("previous") == "pass" and r["status"] != "pass"]  # fmt: skip
    text = "\n".join(lines) + "\n"
    write_atomic(workspace.paths.state / "evals" / "report.md", text)
    page = pages.page(EVALS_PAGE, results=results, live=live, suites=rates)  # the same, to look at
    write_atomic(workspace.paths.state / "evals" / "report.html", page)
    # to the terminal itself: doit's threads swap sys.stdout to capture the steps running beside
    if sys.__stdout__ is not None:
        sys.__stdout__.write(text)
    if problems:
        raise StepError(f"evals: {'; '.join(problems)} (see state/evals/report.md)")
