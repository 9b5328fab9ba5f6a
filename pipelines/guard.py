"""The runtime guard: one policy, used as an agent's PreToolUse hook and on the finished patch.

As a hook (`python -m pipelines.guard hook --worktree W --log guard.jsonl [--protect GLOB ...]`)
it reads Claude Code's (or Codex's) hook JSON on stdin and refuses, with a reason the agent can
act on, what a coding agent must not do: push or commit, skip hooks, write outside its worktree,
read credentials, pipe a download into a shell, edit protected paths. It fails closed: any error
refuses. After the agent, `check_patch` holds the patch to the same policy.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROTECTED = (
    ".github/**", ".gitlab-ci.yml", ".gitlab/**", ".circleci/**", ".pre-commit-config.yaml",
    "ruff.toml", ".ruff.toml", "pytest.ini", "tox.ini", "tach.toml", ".claude/settings*.json",
    ".codex/**", ".gitleaks.toml", ".secrets.baseline",
)  # fmt: skip
CREDENTIALS = re.compile(
    r"(^|/)(\.ssh(/|$)|\.env(\.[\w-]+)?$|[^/]*\.pem$|id_(rsa|ed25519|ecdsa|dsa)\b|\.netrc$|"
    r"\.git-credentials$|\.aws/credentials$|\.config/gh/hosts\.yml$|\.npmrc$|\.pypirc$|[^/]*token[^/]*$)"
)
SHELL_RULES = (
    (re.compile(r"\bgit\b[^;&|]*\bpush\b"), "git-push", "do not push: shipyard pushes the branch itself"),
    (re.compile(r"\bgit\b[^;&|]*\bcommit\b"), "git-commit", "do not commit: shipyard commits the patch"),
    (re.compile(r"--no-verify\b"), "no-verify", "do not skip hooks with --no-verify"),
    (re.compile(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?\w*sh\b"), "pipe-to-shell",
     "do not pipe a download into a shell"),
)  # fmt: skip
WRITERS = {"cp", "mv", "tee", "rm", "touch", "mkdir", "ln", "install", "dd", "truncate", "chmod"}
EDIT_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}
SUPPRESSION = re.compile(
    r"#\s*noqa\b|#\s*type:\s*ignore|#\s*pragma:\s*no cover|eslint-disable|pylint:\s*disable|@ts-ignore"
)
SECRET = re.compile(
    r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{36}|glpat-[A-Za-z0-9_-]{20}|"
    r"xox[bp]-[A-Za-z0-9-]{10,}|sk-ant-[A-Za-z0-9_-]{20,}"
)
TEST_FILE = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.(py|go)$|[^/]*\.(test|spec)\.[jt]sx?$)")


@dataclass(frozen=True)
class Refusal:
    rule: str
    reason: str


@dataclass(frozen=True)
class Policy:
    worktree: Path
    protected: tuple[str, ...] = PROTECTED

    def inside(self, path: str, cwd: Path) -> bool:
        target = Path(os.path.expanduser(path))
        target = (target if target.is_absolute() else cwd / target).resolve()
        root = self.worktree.resolve()
        return target == root or root in target.parents

    def relative(self, path: str, cwd: Path) -> str:
        target = Path(os.path.expanduser(path))
        target = (target if target.is_absolute() else cwd / target).resolve()
        return target.relative_to(self.worktree.resolve()).as_posix()

    def is_protected(self, relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, glob) for glob in self.protected)


def check_tool(policy: Policy, tool: str, tool_input: dict[str, Any], cwd: Path) -> Refusal | None:
    """The refusal of one tool call, or None when the agent may go ahead."""
    if tool == "Bash":
        return _check_shell(policy, str(tool_input.get("command", "")), cwd)
    path = tool_input.get("file_path") or tool_input.get("notebook_path") or tool_input.get("path")
    if not isinstance(path, str):
        return None
    if CREDENTIALS.search(os.path.expanduser(path)):
        return Refusal("credentials", f"{path} holds credentials; the change must not need them")
    if tool in EDIT_TOOLS:
        if not policy.inside(path, cwd):
            return Refusal("outside-worktree", f"{path} is outside the repo's worktree {policy.worktree}")
        if policy.is_protected(policy.relative(path, cwd)):
            return Refusal("protected-path", f"{path} is protected in this repo (gate or CI config)")
    return None


def _check_shell(policy: Policy, command: str, cwd: Path) -> Refusal | None:
    for pattern, rule, reason in SHELL_RULES:
        if pattern.search(command):
            return Refusal(rule, reason)
    words = _words(command)
    for word in words:
        path_like = "/" in word or word.startswith(("~", "."))
        if path_like and CREDENTIALS.search(os.path.expanduser(word)):
            return Refusal("credentials", f"{word} holds credentials; the change must not need them")
    for target in _write_targets(command, words):
        if not policy.inside(target, cwd):
            return Refusal("outside-worktree", f"{target} is outside the repo's worktree {policy.worktree}")
        if policy.is_protected(policy.relative(target, cwd)):
            return Refusal("protected-path", f"{target} is protected in this repo (gate or CI config)")
    if re.search(r"\bgit\b[^;&|]*\breset\b[^;&|]*--hard", command):
        for where in re.findall(r"(?:\bgit\s+-C\s+|\bcd\s+)(\S+)", command):
            if not policy.inside(where, cwd):
                return Refusal("reset-outside", f"git reset --hard outside the worktree ({where})")
    return None


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def _write_targets(command: str, words: list[str]) -> Iterator[str]:
    """Paths a shell command writes to, as far as can be told: redirections, writers' paths, sed -i."""
    yield from re.findall(r"(?<![<0-9&])>>?\s*([^\s;&|]+)", command)
    for index, word in enumerate(words):
        name = os.path.basename(word)
        if name in WRITERS or (name == "sed" and any(w.startswith("-i") for w in words[index + 1 :])):
            for arg in words[index + 1 :]:
                if arg in {";", "&&", "||", "|"}:
                    break
                if not arg.startswith("-") and ("/" in arg or arg.startswith("~") or arg == ".."):
                    yield arg


def check_patch(patch: str, protected: Sequence[str] = PROTECTED) -> list[Refusal]:
    """The policy applied after the fact to a unified diff, for every agent."""
    found: list[Refusal] = []
    current = ""
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            parts = line.split(" b/", 1)
            current = parts[1] if len(parts) == 2 else ""
            old = line[len("diff --git a/") :].split(" b/", 1)[0]
            if any(fnmatch.fnmatch(p, g) for p in (old, current) for g in protected):
                found.append(Refusal("protected-path", f"the patch changes protected {current}"))
        elif line.startswith("deleted file mode") and TEST_FILE.search(current):
            found.append(Refusal("deleted-test", f"the patch deletes the test file {current}"))
        elif line.startswith("+") and not line.startswith("+++"):
            if SUPPRESSION.search(line):
                found.append(
                    Refusal("new-suppression", f"{current} adds a lint suppression: {line[1:].strip()[:80]}")
                )
            if SECRET.search(line):
                found.append(Refusal("secret", f"{current} adds what looks like a secret"))
    return found


def record(log: Path, tool: str, tool_input: Any, refusal: Refusal) -> None:
    """Append one refusal to guard.jsonl (one line per refusal, appended whole)."""
    line = json.dumps({"tool": tool, "input": tool_input, **asdict(refusal)}, sort_keys=True) + "\n"
    with open(log, "a") as f:
        f.write(line)


def deny(reason: str) -> str:
    return json.dumps({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": reason,
        }
    })  # fmt: skip


def hook_command(worktree: Path, log: Path | None, protected: Sequence[str]) -> str:
    """The shell command that runs this guard as an agent's hook (Claude Code's and Codex's)."""
    argv = [sys.executable, "-m", "pipelines.guard", "hook", "--worktree", str(worktree)]
    argv += ["--log", str(log or os.devnull)]
    for glob in protected:
        argv += ["--protect", glob]
    return shlex.join(argv)


def hook(argv: Sequence[str], stdin: str) -> str | None:
    """The hook's decision: a deny JSON to print, or None to let the tool run."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.guard hook")
    parser.add_argument("--worktree", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--protect", action="append", default=None)
    args = parser.parse_args(argv)
    event = json.loads(stdin)
    tool, tool_input = event["tool_name"], event.get("tool_input") or {}
    policy = Policy(args.worktree, tuple(args.protect) if args.protect is not None else PROTECTED)
    refusal = check_tool(policy, tool, tool_input, Path(event.get("cwd") or args.worktree))
    if refusal is None:
        return None
    record(args.log, tool, tool_input, refusal)
    return deny(f"shipyard guard: {refusal.reason}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "hook":
        print(
            "usage: python -m pipelines.guard hook --worktree DIR --log FILE [--protect GLOB]...",
            file=sys.stderr,
        )
        return 2
    try:
        decision = hook(argv[1:], sys.stdin.read())
    except BaseException as err:  # fail closed: a guard that cannot decide refuses
        print(f"shipyard guard could not check this action ({err!r}); it is refused", file=sys.stderr)
        return 2
    if decision is not None:
        print(decision)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
