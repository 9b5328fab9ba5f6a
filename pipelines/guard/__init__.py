"""The runtime guard: one policy, used as an agent's PreToolUse hook and on the finished patch.

`hook` is the hook (run by path, isolated: see its docstring); `check_patch` holds a finished
patch to the same policy, for every agent.
"""

from __future__ import annotations

from pipelines.guard.hook import (
    ALLOW,
    PROTECTED,
    Policy,
    Refusal,
    check_apply_patch,
    check_shell,
    check_tool,
    deny,
    hook,
    hook_command,
    main,
    record,
)
from pipelines.guard.patch import check_patch

__all__ = [
    "ALLOW", "PROTECTED", "Policy", "Refusal", "check_apply_patch", "check_patch", "check_shell",
    "check_tool", "deny", "hook", "hook_command", "main", "record",
]  # fmt: skip
