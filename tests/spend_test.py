"""What agent runs cost: every attempt's own record, the ticket's budget, and a failed run that
waits for the user. The real `claude` CLI against a local server scripted as the model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import Run, Workspace, write_files
from fake_anthropic import FakeAnthropic, text, tool

from pipelines import config, spend, tasks
from pipelines.agents import Result, claude_code, codex
from pipelines.errors import InputError, StepError
from pipelines.paths import Paths

API_KEY = "sk-ant-test-0123456789abcdefghijklmnop"
LIB = {"lib/__init__.py": "def greet(name):\n    return 'hello ' + name\n"}


class Priced(FakeAnthropic):
    input_tokens = 50_000  # a run then costs cents (0.20 USD a turn at the CLI's list price)


def setup(
    ws: Workspace,
    agent: str = "{kind: claude-code, max_turns: 5}",
    more: str = "",
    repos: tuple[str, ...] = ("lib",),
    gates: str = "[]",
) -> None:
    listed = "".join(f"  {name}: {{url: {ws.remote(name, LIB)}}}\n" for name in repos)
    defaults = f"defaults:\n  agent: {agent}\n  gates: {gates}\n  env: none\n{more}"
    ws.write("repos.yaml", f"{defaults}repos:\n{listed}")
    front = f"id: T-1\ntitle: Greet politely\nrepos: [{', '.join(repos)}]"
    ws.write("tickets/T-1.md", f"---\n{front}\n---\nSay good day.\n")


def env(server: FakeAnthropic) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": API_KEY, "CLAUDE_CODE_MAX_RETRIES": "0",
        "COLUMNS": "250",  # the closing table drawn wide enough that no cell folds: one row a line
    }  # fmt: skip


def ship(ws: Workspace, server: FakeAnthropic, *args: str) -> Run:
    return ws.doit(*(args or ("ship",)), env=env(server))


def usage(ws: Workspace, number: int, repo: str = "lib") -> dict:
    return json.loads(ws.state("T-1", repo, "attempts", str(number), "usage.json").read_text())


def attempts(ws: Workspace, repo: str = "lib") -> list[str]:
    folder = ws.state("T-1", repo, "attempts")
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def table(out: str) -> list[list[str]]:
    """The closing table's rows, cell by cell."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")
    ]


def test_the_budget_stops_the_second_repos_agent_in_one_line(workspace: Workspace) -> None:
    setup(workspace, repos=("lib", "app"), more="  budget_usd: 0.15\n")
    with Priced([[text("Nothing to change.")]]) as server:
        run = ship(workspace, server, "-n", "1", "ship")  # one step at a time: one agent runs first
    assert run.returncode != 0
    assert len(server.requests) == 1  # the first repo's one turn; the second's agent never started
    [first] = [repo for repo in ("lib", "app") if attempts(workspace, repo)]
    [second] = {"lib", "app"} - {first}
    record = usage(workspace, 1, first)
    assert (record["role"], record["status"]) == ("agent", "done")
    assert record["cost_usd"] > 0.15, "the CLI priced the scripted turn under the budget"
    spent = f"{record['cost_usd']:.2f}"
    line = f"T-1/{second}: patch: spent {spent} of 0.15 USD (budget_usd); not starting another agent run"
    assert [x for x in run.out.splitlines() if x.startswith("T-1/")] == [f"{line} (see state/T-1/report.md)"]
    assert sorted(table(run.out)) == sorted(
        [
            ["T-1", first, "no change", "no change", "-", f"${spent}"],
            ["T-1", second, f"failed at patch: {line.split(': patch: ')[1]}", "not made", "-", "-"],
            ["T-1", "total", "", "", "", f"${spent}"],
        ]
    )
    report = workspace.state("T-1", "report.md").read_text()
    assert f"Agent runs cost ${spent} in all, of a budget of $0.15 (`budget_usd`)." in report
    assert f"| {first} | no change | no change | - | none (no change) | ${spent} |" in report
    assert (
        f"| {second} | failed at patch ({line.split(': patch: ')[1]}) | not made | - | not opened | - |"
        in report
    )


def test_the_budget_stops_a_repair_round_too(workspace: Workspace) -> None:
    failing = "[{name: check, kind: command, run: 'false'}]"  # whatever the agent did
    setup(
        workspace, agent="{kind: claude-code, repair_rounds: 2}", gates=failing, more="  budget_usd: 0.15\n"
    )
    with Priced([[text("Nothing to change.")]]) as server:
        run = ship(workspace, server)
    assert run.returncode != 0 and len(server.requests) == 1 and attempts(workspace) == ["1"]
    spent = f"{usage(workspace, 1)['cost_usd']:.2f}"
    assert f"T-1/lib: patch, repair round 1: spent {spent} of 0.15 USD (budget_usd); not starting" in run.out
    agent = json.loads(workspace.state("T-1", "lib", "agent.json").read_text())
    assert (agent["status"], agent["repair_rounds"]) == ("stopped", 0)
    assert not workspace.state("T-1", "lib", "patch.failed").exists()  # the agent did not fail


def test_a_failed_run_waits_for_forget_then_runs_again(workspace: Workspace) -> None:
    setup(workspace, agent="{kind: claude-code, max_turns: 1}")
    with Priced([[tool("Bash", command="ls", description="look")]]) as server:
        first = ship(workspace, server)
        assert first.returncode != 0
        assert "T-1/lib: patch: the agent ran out of turns (max_turns 1)" in first.out
        assert len(server.requests) == 1

        again = ship(workspace, server)  # the same inputs: nothing runs, nothing is spent
        assert again.returncode != 0
        assert (
            "T-1/lib: patch: the agent failed on these inputs already (the agent ran out of turns "
            "(max_turns 1)); doit forget patch:T-1/lib to run it again"
        ) in again.out
        assert len(server.requests) == 1 and attempts(workspace) == ["1"]
        report = workspace.state("T-1", "report.md").read_text()
        assert "the agent is not run again on these inputs until you ask" in report
        assert "Next: `doit forget patch:T-1/lib` to run the agent again." in report

        assert workspace.doit("forget", "patch:T-1/lib").returncode == 0
        assert not workspace.state("T-1", "lib", "patch.failed").exists()
        last = ship(workspace, server)  # the model now answers at once: the run succeeds
    assert last.returncode == 0, last.out + last.err
    assert len(server.requests) == 2
    assert attempts(workspace) == ["1", "2"]  # each run its own record, the failed one kept
    assert (usage(workspace, 1)["status"], usage(workspace, 2)["status"]) == ("failed", "done")
    assert workspace.state("T-1", "lib", "attempts", "1", "transcript.jsonl").read_text().strip()
    total = usage(workspace, 1)["cost_usd"] + usage(workspace, 2)["cost_usd"]
    assert usage(workspace, 1)["cost_usd"] > 0  # a failed run is paid too
    agent = json.loads(workspace.state("T-1", "lib", "agent.json").read_text())
    assert agent["status"] == "done" and agent["cost_usd"] == usage(workspace, 2)["cost_usd"]
    assert agent["total_cost_usd"] == pytest.approx(total)
    shipped = json.loads(workspace.state("T-1", "ship.json").read_text())
    assert shipped["cost_usd"] == pytest.approx(total)
    assert shipped["repos"][0]["cost_usd"] == pytest.approx(total)
    assert (
        f"| lib | no change | no change | - | none (no change) | ${total:.2f} |"
        in workspace.state("T-1", "report.md").read_text()
    )


def test_a_transient_failure_is_retried_up_to_retries_times(workspace: Workspace) -> None:
    setup(workspace, agent="{kind: claude-code, retries: 1}")
    with FakeAnthropic([500, 500]) as server:
        runs = [ship(workspace, server) for _ in range(3)]
    assert all(r.returncode != 0 for r in runs)
    assert "T-1/lib: patch: claude failed: API Error: 500" in runs[1].out  # run again, failed again
    assert "T-1/lib: patch: the agent failed on these inputs already (claude failed: API" in runs[2].out
    assert len(server.requests) == 2
    assert attempts(workspace) == ["1", "2"]
    assert all(usage(workspace, n)["transient"] for n in (1, 2))


def test_the_spend_is_intact_after_a_kill_during_a_run(workspace: Workspace) -> None:
    # the gate fails whatever the agent did: a repair round starts, and the kill lands in it
    failing = "[{name: check, kind: command, run: 'false'}]"
    setup(workspace, agent="{kind: claude-code, repair_rounds: 1}", gates=failing)
    asked, released = threading.Event(), threading.Event()

    def held(request: dict) -> list:
        asked.set()  # the repair round's run has started: its attempt is recorded as started
        released.wait(60)
        return [text("Too late.")]

    with Priced([[text("Nothing to change.")], held]) as server:
        proc = subprocess.Popen(
            [*workspace.doit_argv(), "ship"], cwd=workspace.root, env={**os.environ, **env(server)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert asked.wait(60), "the repair round never asked the model"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            released.set()
    first, killed = usage(workspace, 1), usage(workspace, 2)
    assert (first["role"], first["status"]) == ("agent", "done")
    assert first["cost_usd"] > 0 and first["transient"] is False
    assert (killed["role"], killed["status"]) == ("repair", "started")
    assert spend.spent(Paths(workspace.root), "T-1") == first["cost_usd"]


# spend.py in-process


def ended(ok: bool, cost: float | None) -> Result:
    return Result(ok, 0 if ok else 1, 1.5, None if ok else "it broke", turns=2, cost_usd=cost)


def test_every_attempt_gets_the_next_number_and_keeps_its_record(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "T-1" / "lib"
    first = spend.begin(folder, "agent", inputs="abc")
    assert json.loads((first / "usage.json").read_text()) == {
        "role": "agent",
        "inputs": "abc",
        "status": "started",
    }
    transcript = tmp_path / "transcript.jsonl"
    transcript.write_text('{"type": "result"}\n')
    spend.end(first, ended(False, 0.25), transcript)
    second = spend.begin(folder, "repair")
    spend.end(second, ended(True, None))  # a run that reported no cost counts nothing
    assert [p.name for p in (first, second)] == ["1", "2"]
    records = spend.attempts(folder)
    assert [(a["role"], a["status"], a["cost_usd"]) for a in records] == [
        ("agent", "failed", 0.25), ("repair", "done", None),
    ]  # fmt: skip
    assert records[0]["error"] == "it broke" and records[0]["inputs"] == "abc"
    assert (first / "transcript.jsonl").read_text() == transcript.read_text()
    assert not (second / "transcript.jsonl").exists()
    for _ in range(9):
        spend.begin(folder, "repair")
    assert [p.name for p in sorted((folder / "attempts").iterdir())][-1] == "9"
    assert spend.begin(folder, "review").name == "12"  # past 10 and 11, not over "9"
    assert spend.cost(folder) == 0.25


def test_the_tickets_spend_is_its_repos_and_its_planners(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    assert spend.spent(paths, "T-1") == 0.0  # nothing ran yet
    for folder, cost in (("lib", 0.5), ("app", 0.25), ("planner", 0.125)):
        spend.end(spend.begin(paths.ticket_dir("T-1") / folder, "agent"), ended(True, cost))
    spend.begin(paths.ticket_dir("T-1") / "app", "agent")  # killed: recorded as started, costs nothing
    spend.end(spend.begin(paths.ticket_dir("T-2") / "lib", "agent"), ended(True, 4.0))
    assert spend.spent(paths, "T-1") == 0.875
    spend.check(paths, "T-1", None, "T-1/lib: patch")  # no budget, no limit
    spend.check(paths, "T-1", 0.9, "T-1/lib: patch")
    with pytest.raises(StepError) as stopped:
        spend.check(paths, "T-1", 0.875, "T-1/lib: patch")  # at the budget is over it
    assert str(stopped.value) == (
        "T-1/lib: patch: spent 0.88 of 0.88 USD (budget_usd); not starting another agent run"
    )


def test_a_step_whose_folder_was_removed_while_it_ran_fails_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "T-1" / "lib"
    attempt = spend.begin(folder, "agent")
    transcript = folder / "transcript.jsonl"
    shutil.rmtree(tmp_path / "state")  # `rm -rf state` while the agent runs
    with pytest.raises(StepError) as stopped:
        spend.end(attempt, ended(True, 0.1), transcript)
    assert str(stopped.value) == "state/T-1/lib was removed while the step ran"
    # the agent wrote its transcript again, into a folder its attempt is no longer in
    attempt = spend.begin(folder, "agent")
    shutil.rmtree(folder / "attempts")
    write_files(folder, {"transcript.jsonl": "{}\n"})
    with pytest.raises(StepError, match="^state/T-1/lib was removed while the step ran$"):
        spend.end(attempt, ended(True, 0.1), transcript)


# which failures a retry may get past


def result_event(**fields: object) -> dict:
    return {"type": "result", "subtype": "success", "is_error": True, "num_turns": 1, **fields}


@pytest.mark.parametrize(
    ("event", "transient"),
    [
        (result_event(terminal_reason="api_error", api_error_status=500, result="API Error: 500"), True),
        (result_event(terminal_reason="api_error", api_error_status=529, result="Overloaded"), True),
        (result_event(terminal_reason="api_error", api_error_status=429, result="Rate limited"), True),
        (result_event(terminal_reason="api_error", api_error_status=None, result="Connection refused"), True),
        (result_event(terminal_reason="api_error", api_error_status=401, result="Invalid API key"), False),
        (result_event(subtype="error_max_turns", is_error=False), False),
    ],
)
def test_claude_tells_a_passing_failure_from_a_lasting_one(event: dict, transient: bool) -> None:
    settings = claude_code.Settings(kind="claude-code")
    result = claude_code._result(settings, 1, [event], "", 0.5)
    assert not result.ok and result.transient is transient


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("exceeded retry limit, last status: 429 Too Many Requests", True),
        ("We're currently experiencing high demand, which may cause temporary errors.", True),
        ("stream disconnected before completion: error sending request", True),
        ('{"error": {"type": "invalid_request_error", "message": "unknown model"}}', False),
    ],
)
def test_codex_tells_a_passing_failure_from_a_lasting_one(message: str, transient: bool) -> None:
    settings = codex.Settings(kind="codex")
    result = codex._result(settings, 1, [{"type": "turn.failed", "error": {"message": message}}], "", 0.5)
    assert not result.ok and result.transient is transient


def test_a_timeout_is_transient_for_both() -> None:
    assert claude_code._result(claude_code.Settings(kind="claude-code"), None, [], "", 9.0).transient
    assert codex._result(codex.Settings(kind="codex"), None, [], "", 9.0).transient


# what `doit forget` lets run again


def test_forget_and_clean_release_the_patches_they_name(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "repos.yaml": "repos:\n  lib: {url: ../remotes/lib.git}\n  app: {url: ../remotes/app.git}\n",
        "tickets/T-1.md": '---\nid: T-1\ntitle: A\nagent: {kind: command, run: "true"}\n---\nBody.\n',
        "state/T-1/lib/patch.failed": "{}", "state/T-1/app/patch.failed": "{}",
    })  # fmt: skip
    workspace = config.load(tmp_path)
    assert tasks.released(workspace, ["doit", "forget", "patch:T-1/lib"]) == [("T-1", "lib")]
    assert tasks.released(workspace, ["doit", "clean", "patch:T-1/app", "mr:T-1/lib"]) == [("T-1", "app")]
    assert sorted(tasks.released(workspace, ["doit", "forget", "patch"])) == [("T-1", "app"), ("T-1", "lib")]
    assert sorted(tasks.released(workspace, ["doit", "forget", "--all"])) == [("T-1", "app"), ("T-1", "lib")]
    assert tasks.released(workspace, ["doit", "ship"]) == []
    assert tasks.released(workspace, ["doit", "forget", "plan:T-1"]) == []


def test_retries_must_not_be_negative(tmp_path: Path) -> None:
    repos = "defaults:\n  agent: {kind: claude-code, retries: -1}\nrepos:\n  lib: {url: ../lib.git}\n"
    ticket = "---\nid: T-1\ntitle: A\nrepos: [lib]\n---\nBody.\n"
    write_files(tmp_path, {"repos.yaml": repos, "tickets/T-1.md": ticket})
    with pytest.raises(InputError) as refused:
        config.load(tmp_path)
    assert "defaults.agent.retries" in str(refused.value)
