"""Grading a run: each expectation of a scenario against the run's trajectory and outcome."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipelines import globs, planner
from pipelines.evals.scenarios import Expectation, Scenario, ToolCall
from pipelines.evals.trajectory import Call, Trajectory
from pipelines.gates import review


@dataclass(frozen=True)
class Outcome:
    """What the run left: its patch, what the named gates said of it."""

    patch: str = ""
    gates: Mapping[str, str] | None = None  # gate name: status
    candidates: tuple[str, ...] = ()  # the repos a planner could choose from


@dataclass(frozen=True)
class Verdict:
    expectation: str  # its kind
    met: bool
    why: str


def grade(scenario: Scenario, trajectory: Trajectory, outcome: Outcome) -> list[Verdict]:
    verdicts = []
    wanted = [e.tool_call for e in scenario.expect if e.tool_call is not None]
    ordered = _in_order(wanted, trajectory.calls) if scenario.in_order and len(wanted) > 1 else None
    for expectation in scenario.expect:
        verdict = judge(expectation, trajectory, outcome)
        if ordered is not None and expectation.tool_call is not None and verdict.met and not ordered:
            verdict = Verdict(
                verdict.expectation, False, "the tool calls happened, but not in the order written"
            )
        verdicts.append(verdict)
    return verdicts


def judge(expectation: Expectation, trajectory: Trajectory, outcome: Outcome) -> Verdict:
    kind = expectation.kind
    if expectation.tool_call is not None:
        found = [c for c in trajectory.calls if _matches(expectation.tool_call, c)]
        return Verdict(
            kind, bool(found), _described(expectation.tool_call) + (" seen" if found else " never made")
        )
    if expectation.no_tool_call_matching is not None:
        found = [c for c in trajectory.calls if _matches(expectation.no_tool_call_matching, c)]
        why = f"made {found[0].tool} {found[0].text[:120]}" if found else "no such call"
        return Verdict(kind, not found, why)
    if expectation.guard_refused is not None:
        met = expectation.guard_refused in trajectory.refused
        return Verdict(kind, met, f"the guard refused: {', '.join(trajectory.refused) or 'nothing'}")
    if expectation.max_turns is not None:
        return Verdict(kind, trajectory.turns <= expectation.max_turns, f"{trajectory.turns} turns")
    if expectation.max_cost_usd is not None:
        met = trajectory.cost_usd <= expectation.max_cost_usd
        return Verdict(kind, met, f"{trajectory.cost_usd:.4f} USD")
    touched = changed_files(outcome.patch)
    if expectation.touches is not None:
        missing = [g for g in expectation.touches if not any(globs.matches((g,), f) for f in touched)]
        return Verdict(kind, not missing, f"touched {', '.join(touched) or 'nothing'}")
    if expectation.does_not_touch is not None:
        hit = [f for f in touched if globs.matches(expectation.does_not_touch, f)]
        return Verdict(kind, not hit, f"touched {', '.join(hit)}" if hit else "untouched")
    added = "\n".join(
        line[1:] for line in outcome.patch.splitlines() if line.startswith("+") and not line.startswith("+++")
    )
    if expectation.contains is not None:
        return Verdict(
            kind,
            expectation.contains in added,
            "in the patch" if expectation.contains in added else "not added",
        )
    if expectation.lacks is not None:
        return Verdict(
            kind, expectation.lacks not in added, "added" if expectation.lacks in added else "not added"
        )
    if expectation.gates_pass is not None:
        gates = outcome.gates or {}
        failing = [
            f"{g} {gates.get(g, 'did not run')}" for g in expectation.gates_pass if gates.get(g) != "pass"
        ]
        return Verdict(kind, not failing, ", ".join(failing) or "every gate passed")
    if expectation.plans is not None:
        try:
            chosen = sorted(
                p.name
                for p in planner.check(
                    trajectory.final, dict.fromkeys(expectation.plans + outcome.candidates, ""), ()
                )
            )
        except ValueError as err:
            return Verdict(kind, False, f"no valid plan: {err}")
        return Verdict(kind, chosen == sorted(expectation.plans), f"chose {', '.join(chosen) or 'nothing'}")
    if expectation.verdict is not None:
        try:
            said = review.parse(trajectory.final).verdict
        except ValueError as err:
            return Verdict(kind, False, str(err))
        return Verdict(kind, said == expectation.verdict, f"answered {said}")
    wanted = expectation.final_message_contains or ""
    return Verdict(kind, wanted in trajectory.final, f"final message: {trajectory.final[:120]!r}")


def passed(verdicts: Sequence[Verdict]) -> bool:
    return all(v.met for v in verdicts)


def changed_files(patch: str) -> list[str]:
    files = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            parts = line.split(" b/", 1)
            if len(parts) == 2:
                files.append(parts[1])
    return files


def _matches(wanted: ToolCall, call: Call) -> bool:
    if call.tool != wanted.tool:
        return False
    if wanted.contains is not None and wanted.contains not in call.text:
        return False
    return wanted.match is None or re.search(wanted.match, call.text) is not None


def _in_order(wanted: Sequence[ToolCall], calls: Sequence[Call]) -> bool:
    position = 0
    for expected in wanted:
        while position < len(calls) and not _matches(expected, calls[position]):
            position += 1
        if position == len(calls):
            return False
        position += 1
    return True


def _described(call: ToolCall) -> str:
    detail = f" containing {call.contains!r}" if call.contains else ""
    return f"{call.tool}{detail}" + (f" matching /{call.match}/" if call.match else "")
