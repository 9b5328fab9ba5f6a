"""The guard as the agents run it: `sh -c <hook_command(...)>`, hook JSON on stdin, in the worktree.

It answers with a deny (and a line of guard.jsonl) or nothing; anything else it does (a crash, a
hang, a kill, any other output or status) is exit 2, a refusal. Nothing the worktree holds can
stand in for its code, whether shipyard is installed editable (this checkout) or from a wheel.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from pipelines import guard
from pipelines.guard import PROTECTED, hook_command

ROOT = Path(__file__).resolve().parent.parent
# What an agent could leave in its worktree to take the hook's place, were it run from there.
SHADOWS = {
    "pipelines/__init__.py": "",
    "pipelines/guard.py": f"print({guard.ALLOW!r})\n",
    "pipelines/guard/__init__.py": f"print({guard.ALLOW!r})\n",
    "pipelines/guard/hook.py": f"print({guard.ALLOW!r})\n",
    "shlex.py": f"import sys\nprint({guard.ALLOW!r})\nsys.exit(0)\n",
    "json.py": "raise SystemExit(1)\n",
    "re.py": "raise SystemExit(1)\n",
    "argparse.py": "raise SystemExit(1)\n",
    "sitecustomize.py": f"import sys\nprint({guard.ALLOW!r})\nsys.exit(0)\n",
    "usercustomize.py": "raise SystemExit(1)\n",
}


def run(command: str, work: Path, tool: str, tool_input: dict, home: Path, stdin: str | None = None) -> tuple:
    event = {"session_id": "s", "hook_event_name": "PreToolUse", "cwd": str(work), "tool_name": tool,
             "tool_input": tool_input}  # fmt: skip
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(work), "PYTHONHOME": str(work),
           "PYTHONSTARTUP": str(work / "shlex.py"), "ANTHROPIC_API_KEY": "sk-ant-not-a-key"}  # fmt: skip
    out = subprocess.run(
        ["sh", "-c", command], input=json.dumps(event) if stdin is None else stdin, cwd=work, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "work").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path / "work"


def test_the_hook_denies_with_a_reason_logs_it_and_says_nothing_when_it_allows(work: Path) -> None:
    log = work.parent / "guard.jsonl"
    command = hook_command(work, log, PROTECTED)
    code, out, _ = run(command, work, "Bash", {"command": "git push"}, work.parent / "home")
    assert code == 0
    decision = json.loads(out)["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny" and "do not push" in decision["permissionDecisionReason"]
    line = json.loads(log.read_text())
    assert line == {
        "tool": "Bash",
        "input": {"command": "git push"},
        "rule": "git-push",
        "reason": line["reason"],
    }
    assert run(command, work, "Bash", {"command": "ls"}, work.parent / "home") == (0, "", "")
    assert log.read_text().count("\n") == 1


def test_the_hook_protects_what_the_repo_says(work: Path) -> None:
    command = hook_command(work, None, ("db/*.sql",))
    code, out, _ = run(command, work, "Write", {"file_path": "db/schema.sql"}, work.parent / "home")
    assert code == 0 and "protected" in out
    assert run(command, work, "Write", {"file_path": "ruff.toml"}, work.parent / "home")[1] == ""


def test_the_hook_reads_protected_globs_as_gitignore_does(work: Path) -> None:
    command = hook_command(work, None, ("src/**/*.py", "lib/*.py", "*.sql", ".github/", "!db/seed.sql"))
    paths = {
        "src/a.py": True, "src/x/a.py": True, "lib/a.py": True, "lib/x/a.py": False, "db/b.sql": True,
        "db/seed.sql": False, ".github/workflows/ci.yml": True, "README.md": False, ".git/config": True,
    }  # fmt: skip
    home = work.parent / "home"
    decided = {p: "protected" in run(command, work, "Write", {"file_path": p}, home)[1] for p in paths}
    assert decided == paths


def test_the_hook_command_runs_the_guard_isolated_by_absolute_path(work: Path) -> None:
    command = hook_command(work, None, PROTECTED)
    assert f"{sys.executable} -I -S {ROOT / 'pipelines/guard/hook.py'} hook" in command
    assert "-m pipelines" not in command


def fake_python(folder: Path, body: str) -> str:
    script = folder / f"python-{abs(hash(body))}"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    "body",
    [
        "exit 1",  # Claude Code would let the tool run on exit 1
        "exit 127",
        "echo yes; exit 0",
        'echo \'{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}}\'',
        f"echo {json.dumps(guard.ALLOW)}; exit 3",
        "kill -9 $$",
        "",
    ],
)
def test_anything_but_an_explicit_allow_is_a_refusal(work: Path, body: str) -> None:
    command = hook_command(work, None, PROTECTED, python=fake_python(work.parent, body))
    code, out, err = run(command, work, "Bash", {"command": "ls"}, work.parent / "home")
    assert (code, out) == (2, "") and "refused" in err


def test_the_wrapper_passes_an_explicit_allow_and_a_deny(work: Path) -> None:
    allow = hook_command(
        work, None, PROTECTED, python=fake_python(work.parent, f"echo {json.dumps(guard.ALLOW)}")
    )
    assert run(allow, work, "Bash", {"command": "ls"}, work.parent / "home") == (0, "", "")
    denied = guard.deny("no")
    deny = hook_command(work, None, PROTECTED, python=fake_python(work.parent, f"echo '{denied}'"))
    assert run(deny, work, "Bash", {"command": "ls"}, work.parent / "home") == (0, denied + "\n", "")


def test_a_crash_is_a_refusal(work: Path) -> None:
    command = hook_command(work, None, PROTECTED)
    for stdin in ("this is not json", "[]", '{"tool_input": {}}', '{"tool_name": 3}'):
        code, out, err = run(command, work, "Bash", {}, work.parent / "home", stdin=stdin)
        assert (code, out) == (2, "") and "refused" in err, stdin


def test_a_guard_that_hangs_is_stopped_and_refuses(work: Path) -> None:
    log = work.parent / "guard.jsonl"
    os.mkfifo(log)  # recording the refusal blocks forever: the guard's own time limit ends it
    command = hook_command(work, log, PROTECTED, limit=0.5)
    code, out, err = run(command, work, "Bash", {"command": "git push"}, work.parent / "home")
    assert (code, out) == (2, "") and "took too long" in err  # its own alarm, before `timeout`
    sleeper = fake_python(work.parent, "exec sleep 30")  # a guard that never answers: `timeout` kills it
    command = hook_command(work, None, PROTECTED, limit=0.2, python=sleeper)
    code, out, err = run(command, work, "Bash", {"command": "ls"}, work.parent / "home")
    assert (code, out) == (2, "") and "refused" in err


def shadowed(work: Path) -> Path:
    for name, text in SHADOWS.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    return work


def test_nothing_in_the_worktree_stands_in_for_the_guard(work: Path) -> None:
    shadowed(work)
    command = hook_command(work, None, PROTECTED)
    for folder in (work, work / "pipelines"):
        code, out, _ = run(command, folder, "Bash", {"command": "git push"}, work.parent / "home")
        assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert run(command, work, "Bash", {"command": "ls"}, work.parent / "home") == (0, "", "")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """shipyard installed from a wheel into a folder of its own (not editable): that folder."""
    folder = tmp_path_factory.mktemp("wheel")
    files = {p.relative_to(ROOT).as_posix(): p.read_bytes() for p in sorted((ROOT / "pipelines").rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip
    info = "shipyard-0.1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: shipyard\nVersion: 0.1.0\n"
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    digest = {
        n: base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
        for n, d in files.items()
    }
    record = "".join(f"{n},sha256={digest[n]},{len(d)}\n" for n, d in files.items()) + f"{info}/RECORD,,\n"
    wheel = folder / "shipyard-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in [*files.items(), (f"{info}/RECORD", record.encode())]:
            z.writestr(name, data)
    site = folder / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        "--target",
        str(site),
        str(wheel),
    ]
    subprocess.run(pip, check=True, capture_output=True)
    return site


def test_a_non_editable_install_runs_its_own_guard_whatever_the_worktree_holds(
    installed: Path, work: Path
) -> None:
    shadowed(work)
    # its dependencies (pathspec...) from this venv's site-packages: -S reads no .pth, so not this checkout
    program = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "sys.path.append(sys.argv[3]); from pipelines import guard; "
        "assert Path(guard.__file__).is_relative_to(sys.argv[1]), guard.__file__; "
        "print(guard.hook_command(Path(sys.argv[2]), None, guard.PROTECTED))"
    )
    command = subprocess.run(
        [sys.executable, "-S", "-c", program, str(installed), str(work), sysconfig.get_path("purelib")],
        cwd=work.parent, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert str(installed / "pipelines/guard/hook.py") in command
    code, out, _ = run(command, work, "Bash", {"command": "git push"}, work.parent / "home")
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert run(command, work, "Bash", {"command": "ls"}, work.parent / "home") == (0, "", "")


def test_an_80_kb_command_is_decided_through_the_hook(work: Path) -> None:
    command = hook_command(work, None, PROTECTED)
    data = "".join(f"row {i}: git push and git commit are words here\n" for i in range(1800))
    allowed = f"cat > data.txt <<'EOF'\n{data}EOF\npython -m pytest -q && git status"
    refused = " && ".join(f"echo {i} > out{i % 7}.txt" for i in range(5000)) + " && git push"
    assert len(allowed) > 80_000 and len(refused) > 80_000
    assert run(command, work, "Bash", {"command": allowed}, work.parent / "home") == (0, "", "")
    code, out, _ = run(command, work, "Bash", {"command": refused}, work.parent / "home")
    assert code == 0 and "do not push" in out
