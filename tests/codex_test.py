"""The real `codex` CLI as the agent, against a local server scripted as the model."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Workspace
from fake_openai import FakeOpenAI, say, shell

from pipelines.agents import codex


def test_the_codex_cli_is_installed_by_the_projects_own_files() -> None:
    assert codex.binary(), "npm ci installs it (package.json)"


API_KEY = "sk-proj-test-0123456789abcdefghij"
LIB = {"lib/__init__.py": "def greet(name):\n    return 'hello ' + name\n"}


def setup(ws: Workspace, url: str) -> None:
    lib = ws.remote("lib", LIB)
    ws.write(
        "repos.yaml",
        f"""\
defaults:
  agent: {{kind: codex, model: test-model, base_url: "{url}", api_key_env: TEST_OPENAI_KEY}}
  gates: [ruff]
repos:
  lib: {{url: {lib}}}
""",
    )
    ws.write("tickets/T-1.md", "---\nid: T-1\ntitle: Greet politely\nrepos: [lib]\n---\nSay good day.\n")


def ship(ws: Workspace):
    return ws.doit("ship", env={"TEST_OPENAI_KEY": API_KEY, "GITHUB_TOKEN": "ghp-not-for-agents"})


def test_codex_reads_and_edits_then_a_merge_request_opens(workspace: Workspace) -> None:
    turns = [
        [shell("cat lib/__init__.py")],
        [shell("sed -i \"s/'hello '/'good day '/\" lib/__init__.py")],
        [say("Changed the greeting.")],
    ]
    with FakeOpenAI(turns) as server:
        setup(workspace, server.url)
        run = ship(workspace)
    assert run.returncode == 0, run.out + run.err
    assert "def greet(name)" in server.seen()  # the file's text went back to the model
    patch = workspace.state("T-1", "lib", "patch.diff").read_text()
    assert "+    return 'good day ' + name" in patch
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "open"
    assert API_KEY not in workspace.state("T-1", "lib", "transcript.jsonl").read_text()


def test_codex_is_held_by_the_same_guard(workspace: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    turns = [
        [shell("git push origin HEAD:main")],
        [shell(f"echo pwned > {outside}")],
        [shell("cat ~/.ssh/id_rsa")],
        [say("Nothing I may do.")],
    ]
    with FakeOpenAI(turns) as server:
        setup(workspace, server.url)
        run = ship(workspace)
    assert run.returncode == 0, run.out + run.err
    assert not outside.exists()
    refusals = [
        json.loads(line) for line in workspace.state("T-1", "lib", "guard.jsonl").read_text().splitlines()
    ]
    assert [r["rule"] for r in refusals] == ["git-push", "outside-worktree", "credentials"]
    assert server.seen().count("shipyard guard: ") >= 3
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "no-change"


def test_an_unreachable_api_ends_codex_at_its_first_request_and_holds_nothing(workspace: Workspace) -> None:
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    setup(workspace, f"http://127.0.0.1:{port}/v1")
    run = ship(workspace)
    line = next(x for x in run.out.splitlines() if x.startswith("T-1/lib: patch: "))
    assert f"the model API at http://127.0.0.1:{port}/v1 cannot be reached" in line
    assert len(workspace.state("T-1", "lib", "proxy.jsonl").read_text().splitlines()) == 1
    assert not workspace.state("T-1", "lib", "patch.failed").exists()  # the next ship runs it again
