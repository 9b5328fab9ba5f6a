"""The command agent: runs in the worktree, in a built environment, within its timeout."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines import tools
from pipelines.agents import Job, command
from pipelines.sandbox import Box


def make_job(tmp_path: Path) -> Job:
    work = tmp_path / "work"
    work.mkdir()
    env = tools.environment(tmp_path / "home", {"SHIPYARD_REPO": "lib"})
    box = Box(cwd=work, writable=(tmp_path / "home",))
    return Job(work, tmp_path / "prompt.md", tmp_path / "transcript.jsonl", env, box)


def transcript(job: Job) -> list[dict]:
    return [json.loads(line) for line in job.transcript.read_text().splitlines()]


def test_runs_in_the_worktree_and_keeps_its_output(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    result = command.run(
        command.Settings(kind="command", run="echo hi > out.txt; echo done $SHIPYARD_REPO"), job
    )
    assert result.ok and result.exit_code == 0
    assert (job.worktree / "out.txt").read_text() == "hi\n"
    assert transcript(job) == [{"type": "output", "text": "done lib"}, {"type": "exit", "code": 0}]


def test_a_failing_command_says_why(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    result = command.run(command.Settings(kind="command", run="echo 'no such file: x.py' >&2; exit 3"), job)
    assert not result.ok
    assert result.error == "command exited 3: no such file: x.py"


def test_a_crashing_codemod_is_explained_by_its_last_error_line_not_its_chatter(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    run = "echo working; echo 'ValueError: no such function: foo' >&2; echo still working; exit 1"
    result = command.run(command.Settings(kind="command", run=run), job)
    assert result.error == "command exited 1: ValueError: no such function: foo"
    assert {"type": "stderr", "text": "ValueError: no such function: foo"} in transcript(job)


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    job = make_job(tmp_path)
    result = command.run(command.Settings(kind="command", run="sleep 30", timeout=1), job)
    assert not result.ok and result.exit_code is None
    assert result.error == "command timed out after 1s"


def test_the_environment_is_built_not_inherited(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    job = make_job(tmp_path)
    assert command.run(command.Settings(kind="command", run="env"), job).ok
    seen = {line["text"].split("=")[0] for line in transcript(job) if line["type"] == "output"}
    assert "GITHUB_TOKEN" not in seen and "SSH_AUTH_SOCK" not in seen
    assert {"PATH", "HOME", "SHIPYARD_REPO"} <= seen
    assert "ghp-secret" not in job.transcript.read_text()
