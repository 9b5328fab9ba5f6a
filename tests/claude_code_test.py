"""The real `claude` CLI as the agent, against a local server scripted as the model."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import Workspace, git
from fake_anthropic import FakeAnthropic, Turn, text, tool

from pipelines.agents import claude_code


def test_the_claude_cli_is_installed_by_the_projects_own_files() -> None:
    assert claude_code.binary(), "pip install -e '.[dev]' installs claude-agent-sdk, which ships it"


API_KEY = "sk-ant-test-0123456789abcdefghijklmnop"
FORGE_TOKEN = "glpat-abcdefghijklmnopqrstuvwxyz"
LIB = {
    "lib/__init__.py": "def greet(name):\n    return 'hello ' + name\n",
    "tests/test_lib.py": (
        "from lib import greet\n\n\ndef test_greet():\n    assert greet('ann').endswith('ann')\n"
    ),
}
TICKET = """---
id: T-1
title: Greet politely
repos: [lib]
---
Make `greet` say "good day" instead of "hello".
"""


def setup(
    ws: Workspace,
    agent: str = "{kind: claude-code, max_turns: 10, repair_rounds: 1}",
    gates: str = "[pytest]",
) -> None:
    lib = ws.remote("lib", LIB)
    app = ws.remote("app", {"app.py": "X = 1\n"})
    ws.write(
        "repos.yaml",
        f"""\
defaults:
  agent: {agent}
  gates: {gates}
repos:
  lib: {{url: {lib}, skills: [manners]}}
  app: {{url: {app}, agent: {{kind: command, run: "true"}}}}
""",
    )
    ws.write(
        "skills/manners/SKILL.md",
        "---\nname: manners\ndescription: How our programs greet people.\n---\nAlways say GOOD-DAY-PHRASE.\n",
    )
    ws.write("tickets/T-1.md", TICKET)


def ship(ws: Workspace, server: FakeAnthropic, *args: str):
    env = {
        "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": API_KEY, "CLAUDE_CODE_MAX_RETRIES": "0",
        "GITLAB_TOKEN": FORGE_TOKEN,
    }  # fmt: skip
    return ws.doit(*(args or ("ship",)), env=env)


def work(ws: Workspace, name: str = "lib/__init__.py") -> str:
    return str(ws.state("T-1", "lib", "work", name))


def edit_turns(ws: Workspace, old: str, new: str) -> list[Turn]:
    return [
        [tool("Read", file_path=work(ws))],
        [tool("Edit", file_path=work(ws), old_string=old, new_string=new)],
        [text("I changed the greeting.")],
    ]


def test_the_agent_reads_and_edits_then_a_merge_request_opens(workspace: Workspace) -> None:
    setup(workspace)
    with FakeAnthropic(edit_turns(workspace, "'hello '", "'good day '")) as server:
        run = ship(workspace, server)
    assert run.returncode == 0, run.out + run.err
    patch = workspace.state("T-1", "lib", "patch.diff").read_text()
    assert "-    return 'hello ' + name\n+    return 'good day ' + name" in patch
    assert ".claude" not in patch  # the installed skill never reaches the patch
    assert json.loads(workspace.state("T-1", "lib", "gates", "pytest.json").read_text())["status"] == "pass"
    mr = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())
    assert mr["state"] == "open"
    agent = json.loads(workspace.state("T-1", "lib", "agent.json").read_text())
    assert agent["status"] == "done" and agent["turns"] == 3 and agent["cost_usd"] is not None
    events = [
        json.loads(line)
        for line in workspace.state("T-1", "lib", "transcript.jsonl").read_text().splitlines()
    ]
    assert events[0]["type"] == "system" and events[-1]["type"] == "result"


def test_the_guard_refuses_push_outside_writes_and_credentials(workspace: Workspace, tmp_path: Path) -> None:
    setup(workspace)
    outside = tmp_path / "outside.txt"
    turns: list[Turn] = [
        [tool("Bash", command="git push origin HEAD:main", description="push")],
        [tool("Bash", command=f"echo pwned > {outside}", description="write")],
        [tool("Bash", command="cat ~/.ssh/id_rsa", description="read key")],
        [tool("Write", file_path=str(outside), content="pwned")],
        [text("I could not do any of that.")],
    ]
    with FakeAnthropic(turns) as server:
        run = ship(workspace, server)
    assert run.returncode == 0, run.out + run.err
    assert not outside.exists()
    refusals = [
        json.loads(line) for line in workspace.state("T-1", "lib", "guard.jsonl").read_text().splitlines()
    ]
    assert [r["rule"] for r in refusals] == [
        "git-push",
        "outside-worktree",
        "credentials",
        "outside-worktree",
    ]
    assert refusals[3]["tool"] == "Write"
    # the model was told why, each time
    assert server.seen().count("shipyard guard: ") >= 4
    assert git(workspace.remotes / "lib.git", "for-each-ref", "--format=%(refname:short)") == "main"
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "no-change"


def test_a_failing_gate_goes_back_to_the_agent_for_a_repair_round(workspace: Workspace) -> None:
    setup(workspace)
    turns = [
        *edit_turns(workspace, "'hello ' + name", "'good day '"),  # breaks the test
        [tool("Read", file_path=work(workspace))],
        [tool("Edit", file_path=work(workspace), old_string="'good day '", new_string="'good day ' + name")],
        [text("Fixed the failing test.")],
    ]
    with FakeAnthropic(turns) as server:
        run = ship(workspace, server)
    assert run.returncode == 0, run.out + run.err
    repair = workspace.state("T-1", "lib", "rounds", "1")
    assert "test_greet" in (repair / "prompt.md").read_text()
    assert json.loads((repair / "gates.json").read_text())[0]["status"] == "fail"
    assert (repair / "transcript.jsonl").read_text().strip()
    assert workspace.state("T-1", "lib", "transcript.jsonl").read_text().strip()
    assert "test_greet" in server.seen()  # the failing report reached the model
    assert json.loads(workspace.state("T-1", "lib", "agent.json").read_text())["repair_rounds"] == 1
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "open"
    assert "+    return 'good day ' + name" in workspace.state("T-1", "lib", "patch.diff").read_text()


@pytest.mark.parametrize(
    ("turns", "agent", "message"),
    [
        ([500], "{kind: claude-code}", "T-1/lib: patch: claude failed: API Error: 500"),
        ([[tool("Bash", command="ls")]] * 5, "{kind: claude-code, max_turns: 2}",
         "T-1/lib: patch: the agent ran out of turns (max_turns 2)"),
    ],
)  # fmt: skip
def test_a_model_error_or_running_out_of_turns_fails_the_patch(
    workspace: Workspace, turns: list[Turn], agent: str, message: str
) -> None:
    setup(workspace, agent=agent)
    with FakeAnthropic(turns) as server:
        run = ship(workspace, server)
    assert run.returncode != 0
    assert message in run.out + run.err
    assert not workspace.state("T-1", "lib", "patch.diff").exists()
    assert not workspace.state("T-1", "lib", "mr.json").exists()


def test_skills_reach_the_agent_and_editing_one_reruns_only_its_patch(workspace: Workspace) -> None:
    setup(workspace)
    skill = str(workspace.state("T-1", "lib", "work", ".claude", "skills", "manners", "SKILL.md"))
    with FakeAnthropic([[tool("Read", file_path=skill)], [text("Noted.")]]) as server:
        assert ship(workspace, server).returncode == 0
    assert "How our programs greet people." in json.dumps(server.requests[0])  # listed in the prompt
    assert "GOOD-DAY-PHRASE" in server.seen()  # its text, read from the worktree
    workspace.write(
        "skills/manners/SKILL.md",
        "---\nname: manners\ndescription: How our programs greet people.\n---\nSay hi.\n",
    )
    with FakeAnthropic([[text("Noted.")]]) as server:
        run = ship(workspace, server)
    assert run.returncode == 0
    # the prompt lists the skill's name and description only: it reruns and comes out the same
    assert sorted(run.executed) == ["patch:T-1/lib", "prompt:T-1/lib"]


def test_the_agent_environment_holds_no_forge_token(workspace: Workspace) -> None:
    setup(workspace)
    with FakeAnthropic([[tool("Bash", command="env", description="show env")], [text("ok")]]) as server:
        assert ship(workspace, server).returncode == 0
    seen = server.seen()
    assert "SHIPYARD_REPO=lib" in seen  # the agent did run `env`
    assert "VIRTUAL_ENV=" in seen and "/state/envs/lib/" in seen  # in the repo's own environment
    assert "## Running the tests" in workspace.state("T-1", "lib", "prompt.md").read_text()
    assert FORGE_TOKEN not in seen and "GITLAB_TOKEN" not in seen
    for path in workspace.state().rglob("*"):
        if path.is_file() and "mirrors" not in path.parts:
            data = path.read_bytes()
            assert FORGE_TOKEN.encode() not in data and API_KEY.encode() not in data, path


def test_without_model_credentials_the_step_says_what_to_export_and_the_next_ship_runs_it(
    workspace: Workspace,
) -> None:
    setup(workspace)
    missing = {name: "" for name in claude_code.CREDENTIALS}
    run = workspace.doit("ship", env=missing)
    assert run.returncode != 0
    assert "T-1/lib: patch: no model credentials: export ANTHROPIC_API_KEY or" in run.out + run.err
    with FakeAnthropic(edit_turns(workspace, "'hello '", "'good day '")) as server:
        again = ship(workspace, server)  # nothing was spent: the step is not held
    assert again.returncode == 0, again.out + again.err
    assert "+    return 'good day ' + name" in workspace.state("T-1", "lib", "patch.diff").read_text()


def test_an_unreachable_api_ends_the_run_at_its_first_request_and_holds_nothing(workspace: Workspace) -> None:
    setup(workspace)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_API_KEY": API_KEY}
    run = workspace.doit("ship", env={**env, "CLAUDE_CODE_MAX_RETRIES": "9"})  # it would retry nine times
    line = next(x for x in run.out.splitlines() if x.startswith("T-1/lib: patch: "))
    assert f"the model API at http://127.0.0.1:{port} cannot be reached" in line
    records = workspace.state("T-1", "lib", "proxy.jsonl").read_text().splitlines()
    assert len(records) == 1  # ended at its first failed request, not after the CLI's retries
    assert not workspace.state("T-1", "lib", "patch.failed").exists()
    with FakeAnthropic(edit_turns(workspace, "'hello '", "'good day '")) as server:
        again = ship(workspace, server)
    assert again.returncode == 0, again.out + again.err


def test_a_prompt_over_128_kib_reaches_the_model_whole(workspace: Workspace) -> None:
    setup(workspace)
    long = TICKET + "Context. " * 16_000 + "THE-LAST-WORDS\n"  # argv cannot hold it (E2BIG): stdin can
    workspace.write("tickets/T-1.md", long)
    with FakeAnthropic([[text("Read it all.")]]) as server:
        run = ship(workspace, server)
    assert run.returncode == 0, run.out + run.err
    assert len(workspace.state("T-1", "lib", "prompt.md").read_bytes()) > 128 * 1024
    assert "THE-LAST-WORDS" in server.seen()
