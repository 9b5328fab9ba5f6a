"""The tool calls of Claude Code and Codex, read: which tool, and what in its input the guard judges.

A call the guard cannot read is refused, never guessed at: a tool name that is not a string, input
that is not an object, a shell call without a command (a string, or a list of strings) or with a
workdir that is not a string, a file tool without the path it needs, a path or a pattern that is not
a string. Keys the guard has no use for are fine (`timeout`, `description`...). Shell commands go to
`walk` and `rules`, paths to `policy`, globs (Glob's pattern, Grep's glob) to `patterns`.
"""

from __future__ import annotations

import json
import os
import shlex

from . import rules as guard_rules
from . import shell as guard_shell
from . import walk as guard_walk
from .patterns import check_glob
from .policy import Policy, Refusal
from .scripts import SECRET_VAR

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
if TYPE_CHECKING:
    from os import PathLike
    from typing import Any

SHELL_TOOLS = {"Bash", "shell", "exec_command", "local_shell", "unified_exec"}
PATCH_TOOLS = {"apply_patch", "applypatch"}
COMMAND_KEYS = ("command", "cmd", "patch", "input")
EDIT_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
# A tool that reads: the keys one of which it needs, the paths it reads, the globs it reads by.
READ_TOOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "Read": (("file_path",), ("file_path",), ()), "LS": (("path",), ("path",), ()),
    "NotebookRead": (("notebook_path",), ("notebook_path",), ()), "view_image": (("path",), ("path",), ()),
    "Glob": (("pattern",), ("path",), ("pattern",)), "Grep": (("pattern",), ("path",), ("glob",)),
    "read_file": (("file_path", "path"), ("file_path", "path"), ()),
    "list_dir": (("dir_path",), ("dir_path",), ()), "grep_files": (("pattern",), ("path",), ("include",)),
}  # fmt: skip
# Tools that touch no file and run nothing the hook does not see (a subagent's own calls come here too).
QUIET_TOOLS = {
    "TodoWrite", "TodoRead", "Task", "Agent", "TaskOutput", "Skill", "BashOutput", "KillShell", "KillBash",
    "ExitPlanMode", "EnterPlanMode", "AskUserQuestion", "update_plan", "spawn_agent", "wait_agent",
    "close_agent", "send_input", "resume_agent", "request_user_input",
}  # fmt: skip
WEB_TOOLS = {"WebFetch", "WebSearch", "web_search", "web_fetch"}
MIN_SECRET = 12  # characters: a secret's value shorter than this could be any word


def check_tool(
    policy: Policy, tool: str, tool_input: dict[str, Any], cwd: str | PathLike[str]
) -> Refusal | None:
    """The refusal of one tool call, or None when the agent may go ahead."""
    if not isinstance(tool, str) or not isinstance(tool_input, dict):
        return Refusal(
            "unreadable", "the guard cannot read this call: a tool's name and an object of its input"
        )
    if secret := next((name for name, value in _secrets(policy) if value in json.dumps(tool_input)), None):
        reason = f"this call holds the value of {secret}, a secret; the change must not need it"
        return Refusal("credentials", reason)
    if tool in SHELL_TOOLS or tool in PATCH_TOOLS:
        return _command(policy, tool, tool_input, os.fspath(cwd))
    if tool in EDIT_TOOLS:
        path = tool_input.get(EDIT_TOOLS[tool])
        if not isinstance(path, str) or not path:
            return Refusal("unreadable", f"the guard cannot tell which file this {tool} call writes")
        return policy.write(path, cwd)
    if tool in READ_TOOLS:
        return _read(policy, tool, tool_input, os.fspath(cwd))
    if tool == "write_stdin" and tool_input.get("chars"):
        return Refusal(
            "interactive", "write commands as shell calls the guard can see, not to a session's stdin"
        )
    if tool in QUIET_TOOLS or tool == "write_stdin":
        return None
    if tool in WEB_TOOLS:
        return Refusal(
            "web", "no web access: fetched pages can carry instructions and URLs can carry code out"
        )
    if tool.startswith("mcp__"):
        return Refusal(
            "mcp-tool", f"{tool} is an MCP tool; shipyard's agents work with the worktree's tools only"
        )
    return Refusal("unknown-tool", f"{tool} is not a tool the guard knows, so it is refused")


def _secrets(policy: Policy) -> list[tuple[str, str]]:
    """The environment's secrets (the model's key...) long enough that no ordinary text holds them."""
    return [(k, v) for k, v in policy.env.items() if SECRET_VAR.search(k) and len(v) >= MIN_SECRET]


def _command(policy: Policy, tool: str, tool_input: dict[str, Any], cwd: str) -> Refusal | None:
    """A shell call (its command a string, or Codex's list of words) or a patch, in its workdir."""
    command = next((tool_input[k] for k in COMMAND_KEYS if k in tool_input), None)
    if isinstance(command, list) and command and all(isinstance(word, str) for word in command):
        command = shlex.join(command)
    workdir = tool_input.get("workdir")
    if not isinstance(command, str) or not command.strip() or not isinstance(workdir, str | None):
        return Refusal(
            "unreadable",
            f"the guard cannot read this {tool} call: its command must be a string or a list of strings, "
            "its workdir a string",
        )
    here = os.path.join(cwd, workdir) if workdir else cwd
    if tool in PATCH_TOOLS:
        return check_apply_patch(policy, command, here)
    return check_shell(policy, command, here)


def _read(policy: Policy, tool: str, tool_input: dict[str, Any], cwd: str) -> Refusal | None:
    """A file tool's paths, and the globs it reads by (judged by what they could match), from its path."""
    needed, paths, globs = READ_TOOLS[tool]
    given = {key: tool_input[key] for key in (*paths, *globs) if tool_input.get(key) is not None}
    if not any(tool_input.get(key) for key in needed) or not all(isinstance(v, str) for v in given.values()):
        return Refusal(
            "unreadable",
            f"the guard cannot read this {tool} call: it needs {' or '.join(needed)}, and every path or "
            "pattern it names must be a string",
        )
    for key in paths:
        if refusal := policy.read(given.get(key) or "", cwd):
            return refusal
    base = policy.resolve(next((given[k] for k in paths if given.get(k)), "."), cwd)
    for key in globs:
        if (pattern := given.get(key)) and (refusal := check_glob(policy, pattern, base, hidden=True)):
            return refusal
    return None


def check_shell(policy: Policy, command: str, cwd: str | PathLike[str]) -> Refusal | None:
    """The refusal of a shell command: of the first thing it would run that the policy refuses."""
    try:
        found = guard_walk.invocations(command, os.fspath(cwd), policy.env, policy.root)
    except guard_shell.ShellError as err:
        return Refusal("unreadable", f"the guard cannot read this command ({err}); write it more simply")
    for invocation in found:
        if refusal := guard_rules.check(policy, invocation):
            return refusal
    return None


def check_apply_patch(policy: Policy, patch: str, cwd: str | PathLike[str]) -> Refusal | None:
    """Codex's apply_patch, judged like Write/Edit on every file it adds, updates, moves or deletes."""
    paths = guard_rules.APPLY_PATCH.findall(patch)
    if not paths:
        return Refusal("unreadable", "the guard found no `*** Add/Update/Delete File:` header in this patch")
    for path in paths:
        if refusal := policy.write(path, cwd):
            return refusal
    return None
