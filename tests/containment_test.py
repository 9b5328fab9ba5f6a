"""The sandbox, judged by its effects: a hostile agent and gate try every route out, and nothing
outside their worktree changes; killed runs leave no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import Workspace, git

from pipelines.git import MIRROR_CONFIG

LIB = {"lib/__init__.py": "def old_api(x):\n    return x + 1\n"}
SSH_KEY = "-----PLANTED SSH KEY 7f3a9c-----"
AWS_KEY = "planted-aws-secret-2b8e41"
FORGE_TOKEN = "glpat-planted-forge-token-0c5d"
OTHER_SECRET = "planted-other-process-secret-91ad"
LINGER = "27.1828"  # how long a left-behind process sleeps: its cmdline finds it (one per test)


def workspace_with(ws: Workspace, agent: str, gates: str = "[ruff]", files: dict | None = None) -> Path:
    remote = ws.remote("lib", files or LIB)
    ws.write("repos.yaml", f"defaults:\n  gates: {gates}\nrepos:\n  lib: {{url: {remote}}}\n")
    ticket = f"---\nid: T-1\ntitle: Rename old_api\nrepos: [lib]\nagent: {agent}\n---\nGo.\n"
    ws.write("tickets/T-1.md", ticket)
    return remote


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[dict[str, object]]:
    """A stand-in HOME full of credentials, a folder nobody may write, another process holding a
    secret in its environment, and a server on 127.0.0.1 that nobody may reach."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(SSH_KEY + "\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {AWS_KEY}\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "existing.txt").write_text("keep me\n")
    other = subprocess.Popen(["sleep", "120"], env={**os.environ, "OTHER_SECRET": OTHER_SECRET})
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    try:
        yield {"home": home, "outside": outside, "server": server, "port": server.getsockname()[1]}
    finally:
        other.kill()
        server.close()


def escape_script(outside: Path, home: Path, remote: Path, port: int) -> str:
    """Every route out a command agent can take, then the real change, then a process left behind."""
    return f"""\
set +e
echo redirect > {outside}/redirect.txt
echo appended >> {outside}/existing.txt
python3 -c "open('{outside}/python.txt', 'w').write('x')"
dd if=/dev/zero of={outside}/dd.bin bs=1 count=1
cp lib/__init__.py {outside}/copied.py
ln -s {outside}/through-link.txt link && echo via-link > link; rm -f link
ln -s {outside} outdir && echo via-dir-link > outdir/dir-link.txt; rm -f outdir
git worktree add {outside}/worktree HEAD
git config core.fsmonitor "touch {outside}/fsmonitor-ran"
git config core.hooksPath {outside}
git config filter.evil.clean "touch {outside}/filter-ran"
echo '* filter=evil' > .git-attributes-probe
git update-ref refs/heads/evil HEAD
git push {remote} HEAD:refs/heads/evil
touch {remote}/planted-in-remote
cat {home}/.ssh/id_rsa {home}/.aws/credentials >> stolen.txt
cat /proc/*/environ >> stolen.txt
env >> stolen.txt
python3 -c "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)" || echo no-socket
rm -f stolen.txt .git-attributes-probe
sed -i 's/old_api/new_api/g' lib/__init__.py
setsid nohup sh -c 'sleep {LINGER}; echo late > late.txt; echo late > {outside}/late.txt' >/dev/null 2>&1 &
(sleep {LINGER}; echo late > late2.txt) &
exit 0
"""


def lingering(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def gone(marker: str, deadline_s: float = 10) -> bool:
    """Whether every left-behind process is gone (the kernel takes a few ms to end a namespace)."""
    deadline = time.monotonic() + deadline_s
    while lingering(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not lingering(marker)


def tree_snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_hostile_agent_and_gate_change_nothing_outside_their_worktree(
    workspace: Workspace, planted: dict
) -> None:
    outside, home = planted["outside"], planted["home"]
    remote = workspace.remotes / "lib.git"
    workspace.write("codemods/escape.sh", escape_script(outside, home, remote, planted["port"]))
    probe = f"touch {outside}/gate-ran; cat {home}/.ssh/id_rsa; echo gate > {remote}/gate; true"
    agent = '{kind: command, run: "sh $SHIPYARD_ROOT/codemods/escape.sh", inputs: [codemods/escape.sh]}'
    workspace_with(workspace, agent, gates=f"[ruff, {{name: probe, kind: command, run: '{probe}'}}]")
    before_outside = tree_snapshot(outside)

    run = workspace.doit("ship", env={"HOME": str(home), "GITLAB_TOKEN": FORGE_TOKEN})
    assert run.returncode == 0, run.out + run.err

    assert tree_snapshot(outside) == before_outside  # no write, copy, link, worktree or hook ran
    mirror = workspace.state("mirrors", "lib.git")
    assert (mirror / "config").read_bytes() == MIRROR_CONFIG
    refs = git(mirror, "for-each-ref", "--format=%(refname)").split()
    assert [r for r in refs if r != "refs/remotes/origin/HEAD"] == ["refs/remotes/origin/main"]
    branches = git(remote, "for-each-ref", "--format=%(refname:short)").split()
    assert sorted(branches) == ["main", "shipyard/T-1-rename-old-api"]
    after_remote = tree_snapshot(remote)
    assert not {"planted-in-remote", "gate"} & set(after_remote)  # nothing written into the remote
    patch = workspace.state("T-1", "lib", "patch.diff").read_text()
    assert "+def new_api(x):" in patch and "late" not in patch and "stolen" not in patch
    assert git(remote, "diff", "--stat", "main", "shipyard/T-1-rename-old-api").splitlines()[-1] == (
        " 1 file changed, 1 insertion(+), 1 deletion(-)"
    )
    assert _no_connection(planted["server"]), "the agent reached a server on 127.0.0.1"
    assert gone(LINGER), "a process the agent left behind outlived its step"
    for secret in (SSH_KEY, AWS_KEY, FORGE_TOKEN, OTHER_SECRET):
        for path in workspace.state().rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), (secret, path)
        assert secret not in run.out + run.err
        assert not git(remote, "log", "--all", "-p", f"-S{secret}")


def _no_connection(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def test_shipyards_git_runs_nothing_a_mirror_config_or_gitattributes_name(
    workspace: Workspace, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("post-checkout", "pre-push", "reference-transaction", "pre-commit", "post-index-change"):
        (hooks / name).write_text(f"#!/bin/sh\ntouch {marks}/hook-{name}\n")
        (hooks / name).chmod(0o755)
    attributes = {**LIB, ".gitattributes": "* filter=evil diff=evil merge=evil\n"}
    agent = "{kind: command, run: \"sed -i 's/old_api/new_api/g' lib/__init__.py\"}"
    remote = workspace_with(workspace, agent, files=attributes)
    assert workspace.doit("plan:T-1").returncode == 0  # makes the mirror
    mirror = workspace.state("mirrors", "lib.git")
    planted = {
        "core.fsmonitor": f"touch {marks}/fsmonitor",
        "core.hooksPath": str(hooks),
        "filter.evil.clean": f"touch {marks}/filter-clean; cat",
        "filter.evil.smudge": f"touch {marks}/filter-smudge; cat",
        "filter.evil.process": f"touch {marks}/filter-process",
        "diff.evil.textconv": f"touch {marks}/textconv; cat",
        "diff.evil.command": f"touch {marks}/diff-command",
        "diff.external": f"touch {marks}/external-diff",
        "merge.evil.driver": f"touch {marks}/merge-driver",
        "commit.gpgSign": "true",
        "gpg.program": f"{hooks}/pre-commit",
        "core.sshCommand": f"touch {marks}/ssh",
        "remote.origin.url": str(remote),
        "remote.origin.receivepack": f"touch {marks}/receivepack; git-receive-pack",
        "remote.origin.uploadpack": f"touch {marks}/uploadpack; git-upload-pack",
    }
    for key, value in planted.items():
        git(mirror, "config", key, value)
    for name in ("post-checkout", "pre-push", "reference-transaction"):
        (mirror / "hooks" / name).write_text(f"#!/bin/sh\ntouch {marks}/mirror-hook-{name}\n")
        (mirror / "hooks" / name).chmod(0o755)

    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    assert sorted(p.name for p in marks.iterdir()) == []
    assert "new_api" in git(remote, "show", "shipyard/T-1-rename-old-api:lib/__init__.py")


@pytest.mark.parametrize("group", [False, True], ids=["doit-alone", "process-group"])
def test_kill_9_of_doit_leaves_no_agent_process_and_the_rerun_ships_only_the_change(
    workspace: Workspace, group: bool
) -> None:
    fast = workspace.root / "fast"  # the workspace is readable in the sandbox: the rerun's agent is quick
    linger = "27.1831" if group else "27.1830"
    script = (
        f"sed -i 's/old_api/new_api/g' lib/__init__.py; "
        f"(sleep {linger}; echo late > late.txt) & "
        f"setsid sh -c 'sleep {linger}; echo late > late2.txt' & "
        f"[ -e {fast} ] || sleep {linger}"
    )
    remote = workspace_with(workspace, json.dumps({"kind": "command", "run": script}))
    proc = subprocess.Popen(
        [*workspace.doit_argv(), "ship"], cwd=workspace.root, start_new_session=group,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(lingering(linger)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(lingering(linger)) >= 3, "the agent never started"
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()
    assert gone(linger), [p.info["cmdline"] for p in lingering(linger)]

    fast.touch()
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    branch = "shipyard/T-1-rename-old-api"
    assert git(remote, "diff", "--name-only", "main", branch).split() == ["lib/__init__.py"]
    assert "new_api" in git(remote, "show", f"{branch}:lib/__init__.py")
    assert gone(linger)


def test_ctrl_c_stops_the_run_and_every_agent_at_once(workspace: Workspace) -> None:
    linger = "27.1832"
    workspace_with(workspace, json.dumps({"kind": "command", "run": f"sleep {linger}"}))
    proc = subprocess.Popen(
        [*workspace.doit_argv(), "ship"], cwd=workspace.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not lingering(linger) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lingering(linger), "the agent never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert gone(linger)


def test_the_users_own_filters_and_drivers_never_run_in_shipyards_git(
    workspace: Workspace, tmp_path: Path
) -> None:
    """git-lfs installs a global `filter.lfs.clean`; a tree's .gitattributes names it. Through a
    whole ship, refresh and land, none of the user's filters or drivers runs."""
    marks, home = tmp_path / "marks", tmp_path / "home"
    marks.mkdir()
    home.mkdir()
    drivers = {
        "filter.lfs.clean": f"touch {marks}/clean; cat",
        "filter.lfs.smudge": f"touch {marks}/smudge; cat",
        "filter.lfs.process": f"touch {marks}/process",
        "filter.lfs.required": "true",
        "diff.lfs.textconv": f"touch {marks}/textconv; cat",
        "diff.lfs.command": f"touch {marks}/diff-command",
        "merge.lfs.driver": f"touch {marks}/merge-driver",
        "core.attributesFile": str(tmp_path / "attributes"),
        "user.name": "Ann Example",
        "user.email": "ann@example.com",
    }
    (tmp_path / "attributes").write_text("* filter=lfs diff=lfs merge=lfs\n")
    for key, value in drivers.items():
        subprocess.run(["git", "config", "--file", str(home / ".gitconfig"), key, value], check=True)
    files = {**LIB, ".gitattributes": "* filter=lfs diff=lfs merge=lfs\n", "data.bin": "blob\n"}
    agent = "{kind: command, run: \"sed -i 's/old_api/new_api/g' lib/__init__.py\"}"
    remote = workspace_with(workspace, agent, files=files)
    env = {"HOME": str(home)}
    for step in ("ship", "refresh:T-1", "ship", "land:T-1"):
        run = workspace.doit(step, env=env)
        assert run.returncode == 0, (step, run.out + run.err)
    assert sorted(p.name for p in marks.iterdir()) == []
    assert "new_api" in git(remote, "show", "main:lib/__init__.py")
    assert git(remote, "log", "-1", "--format=%an <%ae>", "main") == "Ann Example <ann@example.com>"
