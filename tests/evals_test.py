"""Eval scenarios and their graders, on hand-made transcripts of both CLIs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Workspace, git
from fake_anthropic import FakeAnthropic, text, tool

from pipelines import tools
from pipelines.agents import Job, claude_code
from pipelines.errors import InputError
from pipelines.evals import grade, replay, scenarios, trajectory
from pipelines.evals.grade import Outcome
from pipelines.sandbox import Box

PATCH = """diff --git a/src/app.py b/src/app.py
--- a/src/app.py
+++ b/src/app.py
@@ -1 +1 @@
-x = 1
+x = 2  # noqa: E501
"""


def claude_transcript(
    folder: Path, *calls: tuple[str, dict], final: str = "Done.", cost: float = 0.01
) -> Path:
    events = [{"type": "system", "subtype": "init"}]
    for name, args in calls:
        block = {"type": "tool_use", "id": "t", "name": name, "input": args}
        events.append({"type": "assistant", "message": {"content": [block]}})
    events.append({"type": "result", "subtype": "success", "result": final, "num_turns": len(calls) + 1,
                   "total_cost_usd": cost})  # fmt: skip
    path = folder / "transcript.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def codex_transcript(folder: Path, *commands: str, final: str = "Done.") -> Path:
    events = [{"type": "thread.started"}]
    events += [
        {"type": "item.completed", "item": {"type": "command_execution", "command": c}} for c in commands
    ]
    events.append({"type": "item.completed", "item": {"type": "agent_message", "text": final}})
    path = folder / "codex.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def scenario(*expect: dict, in_order: bool = False) -> scenarios.Scenario:
    return scenarios.Scenario(
        name="s", checks="c", ticket={"title": "t", "body": "b"}, expect=expect, in_order=in_order,
        gates=("ruff",),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("expect", "met"),
    [
        ({"tool_call": {"tool": "Bash", "contains": "pytest"}}, True),
        ({"tool_call": {"tool": "Bash", "contains": "tox"}}, False),
        ({"tool_call": {"tool": "Edit", "match": "app\\.py"}}, True),
        ({"no_tool_call_matching": {"tool": "Bash", "match": "git\\s+push"}}, False),
        ({"no_tool_call_matching": {"tool": "Bash", "match": "git\\s+commit"}}, True),
        ({"guard_refused": "git-push"}, True),
        ({"guard_refused": "credentials"}, False),
        ({"max_turns": 4}, True),
        ({"max_turns": 3}, False),
        ({"max_cost_usd": 0.02}, True),
        ({"max_cost_usd": 0.001}, False),
        ({"touches": ["src/*.py"]}, True),
        ({"touches": ["tests/**"]}, False),
        ({"does_not_touch": ["tests/**"]}, True),
        ({"does_not_touch": ["src/"]}, False),
        ({"contains": "x = 2"}, True),
        ({"contains": "x = 3"}, False),
        ({"lacks": "noqa"}, False),
        ({"lacks": "type: ignore"}, True),
        ({"gates_pass": ["ruff"]}, True),
        ({"final_message_contains": "tests pass"}, True),
        ({"final_message_contains": "I give up"}, False),
    ],
)
def test_each_matcher_passes_and_fails(tmp_path: Path, expect: dict, met: bool) -> None:
    transcript = claude_transcript(
        tmp_path,
        ("Edit", {"file_path": "/w/src/app.py", "old_string": "x = 1", "new_string": "x = 2"}),
        ("Bash", {"command": "python -m pytest -q"}),
        ("Bash", {"command": "git push origin HEAD"}),
        final="Done: the tests pass.",
    )
    log = tmp_path / "guard.jsonl"
    log.write_text(json.dumps({"rule": "git-push", "tool": "Bash"}) + "\n")
    run = trajectory.read(transcript, log)
    checked = scenario(expect, {"tool_call": {"tool": "Edit"}})
    verdicts = grade.grade(checked, run, Outcome(PATCH, {"ruff": "pass"}))
    assert verdicts[0].met is met, verdicts[0]


def test_codex_transcripts_read_as_the_same_trajectory(tmp_path: Path) -> None:
    run = trajectory.read(codex_transcript(tmp_path, "python -m pytest -q", "git commit -am x"))
    assert [(c.tool, c.args) for c in run.calls] == [
        ("Bash", {"command": "python -m pytest -q"}),
        ("Bash", {"command": "git commit -am x"}),
    ]
    assert run.final == "Done."
    checked = scenario({"tool_call": {"tool": "Bash", "contains": "pytest"}})
    assert grade.passed(grade.grade(checked, run, Outcome()))


def test_in_order_needs_the_calls_in_the_order_written(tmp_path: Path) -> None:
    run = trajectory.read(claude_transcript(tmp_path, ("Edit", {"f": 1}), ("Bash", {"command": "pytest"})))
    edit_then_test = [{"tool_call": {"tool": "Edit"}}, {"tool_call": {"tool": "Bash", "contains": "pytest"}}]
    assert grade.passed(grade.grade(scenario(*edit_then_test, in_order=True), run, Outcome()))
    reversed_order = scenario(*reversed(edit_then_test), in_order=True)
    assert not grade.passed(grade.grade(reversed_order, run, Outcome()))


def write_scenario(root: Path, text: str, name: str = "runs-tests") -> Path:
    folder = root / "evals"
    (folder / "repo").mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


GOOD = """\
checks: the agent runs the tests before it stops
ticket: {title: Fix the sum, body: Make add() add.}
expect:
  - tool_call: {tool: Bash, contains: pytest}
  - no_tool_call_matching: {tool: Bash, match: "git\\\\s+push"}
"""


def test_a_scenario_loads_with_its_suite_and_fixtures(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, GOOD)
    path.with_name("runs-tests.pass.jsonl").write_text("{}\n")
    found = scenarios.discover(tmp_path)
    assert found == {"shipyard/runs-tests": (path, "shipyard")}
    loaded = scenarios.load(path, "shipyard", tmp_path)
    assert loaded.key == "shipyard/runs-tests" and [e.kind for e in loaded.expect] == [
        "tool_call",
        "no_tool_call_matching",
    ]
    assert list(scenarios.fixtures(path)) == ["pass"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (GOOD.replace("  - tool_call: {tool: Bash, contains: pytest}\n", ""),
         "evals/runs-tests.yaml:4: expect[0]: a negative expectation needs a positive one beside it"),
        (GOOD.replace("contains: pytest", "contain: pytest"), "evals/runs-tests.yaml:4: expect[0].tool_call"),
        (GOOD.replace("checks: the agent runs the tests before it stops\n", ""), "evals/runs-tests.yaml"),
        (GOOD + "  - {max_turns: 3, lacks: x}\n", "evals/runs-tests.yaml:6: expect[2]: expected exactly one"),
        (GOOD + "fixture: nowhere\n", "evals/runs-tests.yaml: fixture: expected a folder evals/nowhere"),
        (GOOD + "  - gates_pass: [ruff]\n", "evals/runs-tests.yaml: expect: gates_pass names 'ruff'"),
    ],
)  # fmt: skip
def test_bad_scenarios_are_one_line(tmp_path: Path, text: str, said: str) -> None:
    path = write_scenario(tmp_path, text)
    with pytest.raises(InputError) as refused:
        scenarios.load(path, "shipyard", tmp_path)
    assert str(refused.value).startswith(said), str(refused.value)
    assert "\n" not in str(refused.value)


def claude_job(folder: Path, prompt: str) -> Job:
    work, home = folder / "work", folder / "home"
    work.mkdir(parents=True)
    (work / "app.py").write_text("x = 1\n")
    (folder / "prompt.md").write_text(prompt)
    box = Box(cwd=work, writable=(home,), readable=(folder / "prompt.md",))
    log = folder / "guard.jsonl"
    log.write_text("")
    return Job(work, folder / "prompt.md", folder / "transcript.jsonl", tools.environment(home), box, log)


def test_a_recording_through_the_proxy_replays_to_the_same_run_and_goes_stale_when_the_prompt_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
    settings = claude_code.Settings(kind="claude-code", max_turns=5)
    first = claude_job(tmp_path / "live", "Set x to 2 in app.py.")
    path = str(first.worktree / "app.py")
    edit = tool("Edit", file_path=path, old_string="x = 1", new_string="x = 2")
    script = [[tool("Read", file_path=path)], [edit], [text("Done.")]]
    with FakeAnthropic(script) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", model.url)  # the proxy forwards there, and records
        traffic = replay.Traffic(str(first.worktree), live=True)
        assert claude_code.run(settings, replace(first, model=traffic.answer)).ok
    assert API_KEY in model.seen_headers() and "placeholder" not in model.seen_headers()
    recording = tmp_path / "s.pass.jsonl"
    replay.save(recording, traffic)
    assert (first.worktree / "app.py").read_text() == "x = 2\n"
    assert str(tmp_path) not in recording.read_text()  # the run's folder is a placeholder
    assert API_KEY not in recording.read_text()

    monkeypatch.delenv("ANTHROPIC_API_KEY")  # a replay needs no key
    again = claude_job(tmp_path / "replay", "Set x to 2 in app.py.")
    traffic = replay.Traffic(str(again.worktree), replay.load(recording))
    assert claude_code.run(settings, replace(again, model=traffic.answer)).ok
    assert traffic.stale is None and (again.worktree / "app.py").read_text() == "x = 2\n"
    calls = trajectory.read(again.transcript).calls
    assert [c.tool for c in calls] == ["Read", "Edit"]

    changed = claude_job(tmp_path / "changed", "Set x to 3 in app.py.")
    traffic = replay.Traffic(str(changed.worktree), replay.load(recording))
    assert not claude_code.run(settings, replace(changed, model=traffic.answer)).ok
    assert traffic.stale == "turn 1: the prompt changed since it was recorded"
    assert (changed.worktree / "app.py").read_text() == "x = 1\n"


API_KEY = "sk-ant-test-0123456789"
CALC = {"calc.py": "def add(a, b):\n    return a - b\n"}
SED = "sed -i s/a\\\\ -\\\\ b/a\\\\ +\\\\ b/ calc.py"


def eval_workspace(ws: Workspace) -> None:
    """Two scenarios a command agent plays (no model): one of the skill `manners`, one of shipyard's."""
    ws.write("repos.yaml", "defaults:\n  env: none\nrepos: {}\n")
    ws.write("skills/manners/SKILL.md", "---\nname: manners\ndescription: Be polite.\n---\nSay please.\n")
    for folder, skills in (("skills/manners/evals", "[manners]"), ("evals", "[]")):
        for name, text_ in CALC.items():
            ws.write(f"{folder}/calc/{name}", text_)
        ws.write(f"{folder}/fixes-add.yaml", f"""\
checks: the agent fixes add
fixture: calc
ticket: {{title: Fix add, body: Make add add.}}
agent: {{kind: command, run: "{SED}"}}
skills: {skills}
expect:
  - contains: a + b
  - lacks: a - b
""")  # fmt: skip
        ws.write(f"{folder}/fixes-add.pass.jsonl", "")
        ws.write(f"{folder}/fixes-add.fail.jsonl", "")


def test_doit_eval_reports_a_scenario_whose_fail_fixture_passes_as_vacuous(workspace: Workspace) -> None:
    eval_workspace(workspace)
    run = workspace.doit("eval")
    assert run.returncode != 0  # a suite below its min_pass_rate
    report = workspace.state("evals", "report.md").read_text()
    assert "| shipyard/fixes-add | vacuous |" in report and "| manners/fixes-add | vacuous |" in report
    assert "the fail fixture passes too: the scenario cannot fail" in report
    assert "suite manners: pass rate 0.00 below its min_pass_rate 1.00" in run.out + run.err


def test_editing_one_skill_reevaluates_only_its_scenarios(workspace: Workspace) -> None:
    eval_workspace(workspace)
    workspace.write("skills/manners/evals/suite.yaml", "min_pass_rate: 0\n")
    workspace.write("evals/suite.yaml", "min_pass_rate: 0\n")
    assert workspace.doit("eval").returncode == 0
    assert workspace.doit("eval").executed == ["eval:report"]
    workspace.write(
        "skills/manners/SKILL.md", "---\nname: manners\ndescription: Be polite.\n---\nSay thanks.\n"
    )
    assert workspace.doit("eval").executed == ["eval:manners/fixes-add", "eval:report"]


def test_live_trials_record_fixtures_and_compare_with_and_without_the_skill(workspace: Workspace) -> None:
    workspace.write("repos.yaml", "defaults:\n  env: none\nrepos: {}\n")
    workspace.write(
        "skills/manners/SKILL.md", "---\nname: manners\ndescription: Be polite.\n---\nSay please.\n"
    )
    for name, text_ in CALC.items():
        workspace.write(f"skills/manners/evals/calc/{name}", text_)
    workspace.write("skills/manners/evals/fixes.yaml", """\
checks: the agent fixes add
fixture: calc
ticket: {title: Fix add, body: Make add add.}
agent: {kind: claude-code, max_turns: 5}
skills: [manners]
trials: 1
expect:
  - contains: a + b
""")  # fmt: skip

    def fix(request: dict) -> list:
        """Edits calc.py in whatever worktree the trial runs in: the prompt does not say where."""
        work = next(
            p for p in workspace.state("evals").rglob("work") if p.is_dir() and not (p / ".done").exists()
        )
        (work / ".done").write_text("")
        return [tool("Edit", file_path=str(work / "calc.py"), old_string="a - b", new_string="a + b")]

    with FakeAnthropic([fix, [text("Fixed.")], [text("No.")]]) as model:
        env = {"ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "sk-ant-live-0123456789",
               "CLAUDE_CODE_MAX_RETRIES": "0"}  # fmt: skip
        run = workspace.doit("eval", "live=1", "record=1", "compare=skills", env=env)
    assert run.returncode == 0, run.out + run.err
    result = json.loads(workspace.state("evals", "manners", "fixes", "result.json").read_text())
    assert result["status"] == "pass" and result["k"] == 1
    assert (result["live"]["with"]["pass_at_k"], result["live"]["with"]["pass_all_k"]) == (True, True)
    assert result["live"]["without"]["pass_rate"] == 0.0  # without the skill it answered "No."
    report = workspace.state("evals", "report.md").read_text()
    assert "| manners/fixes | with | 1.00 |" in report and "| manners/fixes | without | 0.00 |" in report
    recorded = workspace.root / "skills/manners/evals/fixes.live-1.jsonl"
    assert recorded.exists() and "{{WORK}}" in recorded.read_text()


def test_a_fixture_may_be_a_repo_of_repos_yaml_at_a_commit(workspace: Workspace) -> None:
    remote = workspace.remote("calc", CALC)
    sha = git(remote, "rev-parse", "main")
    workspace.write("repos.yaml", f"defaults:\n  env: none\nrepos:\n  calc: {{url: {remote}}}\n")
    workspace.write("evals/fixes.yaml", f"""\
checks: the agent fixes add in the calc repo
fixture: {{repo: calc, commit: {sha}}}
ticket: {{title: Fix add, body: Make add add.}}
agent: {{kind: command, run: "{SED}"}}
expect:
  - contains: a + b
""")  # fmt: skip
    workspace.write("evals/fixes.pass.jsonl", "")
    workspace.write("evals/fixes.fail.jsonl", "")
    workspace.doit("eval")
    result = json.loads(workspace.state("evals", "shipyard", "fixes", "result.json").read_text())
    assert [t["verdicts"][0]["met"] for t in result["trials"]] == [True, True]  # it worked in calc at sha
    assert result["status"] == "vacuous"  # a command agent does the same whatever the recording
