"""The guard as an agent's PreToolUse hook, and the checks of one tool call.

As a hook it is the command `hook_command` builds, `python -I -S /abs/path/pipelines/guard/hook.py hook
--worktree W --log guard.jsonl [--protect-re REGEX]...`, which Claude Code and Codex run through `sh -c`
in the worktree with the agent's environment. Isolated (-I: neither the cwd nor this folder nor any
PYTHON* variable on its path; -S: no site-packages, no .pth file), nothing in the worktree or that
environment can stand in for its code: it imports only the standard library, and its siblings load
from this file's folder by absolute path. It reads the hook JSON on stdin and answers with an
explicit allow or a deny whose reason the agent reads; the shell around it turns anything else (a
crash, a hang past its time limit, any other output or exit status) into exit 2, a refusal. The
repo's protected globs reach it compiled by pathspec in shipyard's process (`!REGEX` for a `!` glob),
so it judges them exactly as `check_patch` does.

`tools` reads each tool call, `shell` reads shell text, `walk` and `programs` find what it would
run (`scripts` reads a program's text, `recipes` a Makefile's and package.json's), `rules` and
`git_rules` judge each command (`writes` finds what it writes), `policy` judges paths and `patterns`
globs. After the agent, `check_patch` (`patch`, in shipyard's process) holds the patch to the same
policy.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import signal
import socket
import stat
import sys
import types
from collections.abc import Sequence
from dataclasses import asdict

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
HERE = os.path.realpath(__file__)
TIME_LIMIT = 8.0  # seconds the guard may take to decide; the shell's `timeout` kills it 1 s later


def _package() -> str:
    """Where the siblings load from: `pipelines.guard` when imported, a private package as the hook."""
    if __package__:
        return __package__
    name = "_shipyard_guard"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [os.path.dirname(HERE)]  # this folder, by absolute path: not sys.path or the cwd
        sys.modules[name] = package
    return name


if TYPE_CHECKING:
    from os import PathLike
    from typing import Any

    from pipelines.guard import policy as guard_policy
    from pipelines.guard import tools as guard_tools
else:
    guard_policy = importlib.import_module(f"{_package()}.policy")
    guard_tools = importlib.import_module(f"{_package()}.tools")

PROTECTED = guard_policy.PROTECTED
PROTECTED_RULES = guard_policy.PROTECTED_RULES
Policy = guard_policy.Policy
Refusal = guard_policy.Refusal

ALLOW = json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}})
DENIED = '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", '
check_tool = guard_tools.check_tool
check_shell = guard_tools.check_shell
check_apply_patch = guard_tools.check_apply_patch


def record(log: str | PathLike[str], tool: str, tool_input: Any, refusal: Refusal) -> None:
    """One refusal, one line of guard.jsonl: appended to the file by shipyard's own process, or,
    from the hook in a sandbox, sent to the socket shipyard reads (the log is not the agent's to
    write)."""
    line = json.dumps({"tool": tool, "input": tool_input, **asdict(refusal)}, sort_keys=True) + "\n"
    if stat.S_ISSOCK(os.stat(log).st_mode if os.path.exists(log) else 0):
        with socket.socket(socket.AF_UNIX) as reporter:
            reporter.connect(os.fspath(log))
            reporter.sendall(line.encode())
        return
    with open(log, "a") as f:
        f.write(line)


def deny(reason: str) -> str:
    return json.dumps({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": reason,
        }
    })  # fmt: skip


def hook_command(
    worktree: str | PathLike[str],
    log: str | PathLike[str] | None,
    protected: Sequence[str],
    *,
    limit: float = TIME_LIMIT,
    python: str = "",
) -> str:
    """The shell command that runs this guard as an agent's hook (Claude Code's and Codex's).

    The guard must print its explicit allow or a deny, exit 0, and do so within `limit` seconds;
    anything else (a crash, a kill, any other output or status) becomes exit 2, which both agents
    take as a refusal. The allow itself reaches the agent as no output at all: the agent's own
    permission settings still apply (Claude Code's "allow" would bypass them, and Codex 0.169
    reports it as an unsupported answer).
    """
    argv = [python or sys.executable, "-I", "-S", HERE, "hook", "--worktree", os.fspath(worktree)]
    argv += ["--log", os.fspath(log or os.devnull), "--limit", f"{limit:g}"]
    # imported here, not at the top: the hook itself never needs them, and could not import pathspec
    import shutil

    from pipelines import globs

    for regex, include in globs.rules(protected):  # the repo's globs, compiled as check_patch compiles them
        argv += ["--protect-re", regex if include else f"!{regex}"]
    timeout = shutil.which("timeout")  # the guard's own alarm fires first; this kills a guard that hangs
    guard = shlex.join([timeout, "-k", "1", f"{limit + 1:g}", *argv] if timeout else argv)
    failed = "shipyard guard: the guard failed (status $?), so this action is refused"
    silent = "shipyard guard: the guard gave no decision, so this action is refused"
    return (
        f'o=$({guard}) || {{ echo "{failed}" >&2; exit 2; }}; case "$o" in '
        f"{shlex.quote(ALLOW)}) exit 0;; {shlex.quote(DENIED)}*) printf '%s\\n' \"$o\"; exit 0;; esac; "
        f"echo {shlex.quote(silent)} >&2; exit 2"
    )


def hook(argv: Sequence[str], stdin: str) -> str:
    """The hook's decision, as the JSON to print: ALLOW, or a deny with its reason."""
    options: dict[str, list[str]] = {"--worktree": [], "--log": [], "--protect-re": [], "--limit": []}
    if len(argv) % 2:
        raise ValueError(f"an option without its value in {list(argv)}")
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        options[flag].append(value)  # an unknown option is a KeyError: refused
    worktree, log = options["--worktree"][-1], options["--log"][-1]
    event = json.loads(stdin)
    tool, tool_input = event["tool_name"], event.get("tool_input", {})
    if not isinstance(tool, str) or not isinstance(tool_input, dict | str):
        raise ValueError("tool_name must be a string and tool_input an object")
    tool_input = {"command": tool_input} if isinstance(tool_input, str) else tool_input
    protected = tuple((r[1:], False) if r.startswith("!") else (r, True) for r in options["--protect-re"])
    policy = Policy(worktree, protected or PROTECTED_RULES, dict(os.environ))
    refusal = check_tool(policy, tool, tool_input, event.get("cwd") or worktree)
    if refusal is None:
        return ALLOW
    record(log, tool, tool_input, refusal)
    return deny(f"shipyard guard: {refusal.reason}")


def _expire(signum: int, frame: types.FrameType | None) -> None:
    raise TimeoutError("the guard took too long")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "hook":
        print(
            "usage: hook.py hook --worktree DIR --log FILE [--protect-re [!]REGEX]... [--limit S]",
            file=sys.stderr,
        )
        return 2
    try:
        limit = float(argv[argv.index("--limit") + 1]) if "--limit" in argv else TIME_LIMIT
        signal.signal(signal.SIGALRM, _expire)
        signal.setitimer(signal.ITIMER_REAL, limit)
        decision = hook(argv[1:], sys.stdin.read())
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(decision, flush=True)
    except BaseException as err:  # fail closed: a guard that cannot decide refuses
        print(f"shipyard guard: could not check this action ({err!r}); it is refused", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
