"""Claude Code, headless: `claude -p` in the worktree, its stream-json output as the transcript.

The guard runs as a PreToolUse hook given with `--settings`; `--setting-sources user` keeps the
repo's own `.claude/settings*.json` (and so any hook of its own, or a switch that turns ours off)
out, and HOME is shipyard's, so the user settings are empty. The CLI has no network: it reaches
its API through the model proxy (`ANTHROPIC_BASE_URL` inside is the bridge's), holding a
placeholder key; the proxy adds the user's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines import guard, proxy, streams, tools
from pipelines.agents import Job, Result

USES_ENV: bool = True  # it runs the repo's tests in the repo's own env
SKILLS_DIR: str | None = ".claude/skills"
# The model credentials a user may configure; nothing else of the user's environment passes.
CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
SETTINGS = ("CLAUDE_CODE_MAX_RETRIES", "API_TIMEOUT_MS")  # passed on as the user set them
ANTHROPIC = "https://api.anthropic.com"
API_PATHS = ("/v1/messages", "/v1/messages/count_tokens")  # all the proxy lets the CLI ask
READS = ("Read", "Glob", "Grep")  # all a planner or a reviewer may do
WRITES = ("Bash", "Edit", "MultiEdit", "Write", "NotebookEdit", "WebFetch", "WebSearch")
MAX_RETRIES = 2  # the CLI's own retries of an API error, unless CLAUDE_CODE_MAX_RETRIES says otherwise
RETRYABLE = (408, 409, 429)  # statuses under 500 that are worth another try (429: too many requests)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["claude-code"]
    model: str | None = None
    max_turns: int = Field(default=40, gt=0)
    timeout: int = Field(default=1800, gt=0)
    repair_rounds: int = Field(default=2, ge=0)
    retries: int = Field(default=0, ge=0)  # runs again after an API error or a timeout, at most
    inputs: ClassVar[tuple[str, ...]] = ()
    tools: tuple[str, ...] = ("Bash", "Read", "Edit", "Write", "Glob", "Grep")


def binary() -> str | None:
    """`claude` from PATH, else the one bundled in the claude-agent-sdk wheel."""
    found = tools.which("claude")
    if found:
        return found
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    bundled = Path(spec.submodule_search_locations[0]) / "_bundled" / "claude"
    return str(bundled) if bundled.is_file() else None


def resume(settings: Settings, job: Job, session: str | None) -> Result:
    """A repair round: a new session told the ticket's prompt and the failing gate reports.

    Sessions are not kept on disk (they would hold whatever the agent's shells printed), so the
    round starts afresh from the worktree as the agent left it.
    """
    return run(settings, job)


def run(settings: Settings, job: Job) -> Result:
    exe = binary()
    if exe is None:
        return Result(
            False, None, 0.0, "the claude CLI is not installed; pip install claude-agent-sdk", blameless=True
        )
    found = route(os.environ)
    if found is None and job.model is None:  # its HOME is shipyard's: no login there
        return Result(
            False, None, 0.0, f"no model credentials: export {' or '.join(CREDENTIALS)}", blameless=True
        )
    api, held = found or (proxy.Route(ANTHROPIC, API_PATHS), {"ANTHROPIC_API_KEY": proxy.PLACEHOLDER})
    env = {**job.env, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", **held}
    env.update((name, os.environ[name]) for name in SETTINGS if name in os.environ and name not in env)
    env.setdefault("CLAUDE_CODE_MAX_RETRIES", str(MAX_RETRIES))
    secrets = [os.environ[name] for name in CREDENTIALS if os.environ.get(name)]
    tools, mode = (READS, "default") if job.read_only else (settings.tools, "acceptEdits")
    # beside the transcript: outside the worktree, and read-only in the sandbox
    with (
        tempfile.TemporaryDirectory(prefix=".claude-settings-", dir=job.transcript.parent) as tmp,
        proxy.serve(api, job.proxy_log, job.guard_log, sandboxed=job.box.enabled, answer=job.model) as door,
    ):
        hooks = Path(tmp) / "settings.json"
        hooks.write_text(json.dumps(_hook_settings(job, door.guard)))
        env["ANTHROPIC_BASE_URL"] = door.url
        box = job.box.allow(readable=[hooks, door.folder], network=False)
        argv = [
            exe, "-p", "--output-format", "stream-json", "--verbose",
            "--max-turns", str(settings.max_turns), "--permission-mode", mode,
            "--allowedTools", ",".join(tools), "--setting-sources", "user",
            "--settings", str(hooks), "--no-session-persistence",
        ]  # fmt: skip
        if job.read_only:
            argv += ["--disallowedTools", ",".join(WRITES)]
        if settings.model:
            argv += ["--model", settings.model]
        started = time.monotonic()
        code, events, tail = streams.run_json_lines(
            door.wrap(argv), box, env, settings.timeout, job.transcript, secrets, job.prompt, door.fatal.event
        )
    took = round(time.monotonic() - started, 3)
    if door.fatal.why:  # the API cannot be reached or refused the key: not the change's fault
        return Result(False, code, took, door.fatal.why, transient=True, blameless=True)
    return _result(settings, code, events, tail, took)


def route(given: Mapping[str, str]) -> tuple[proxy.Route, dict[str, str]] | None:
    """The model proxy's route (the API and the credential it adds) and the placeholder the agent
    holds instead; None when no credential is set."""
    upstream = given.get("ANTHROPIC_BASE_URL") or ANTHROPIC
    for name in CREDENTIALS:
        if value := given.get(name):
            header = (
                {"x-api-key": value} if name == "ANTHROPIC_API_KEY" else {"authorization": f"Bearer {value}"}
            )
            return proxy.Route(upstream, API_PATHS, header), {name: proxy.PLACEHOLDER}
    return None


def _hook_settings(job: Job, report: Path) -> dict[str, Any]:
    hook = {"type": "command", "command": guard.hook_command(job.worktree, report, job.protected)}
    return {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [hook]}]}}


def _result(settings: Settings, code: int | None, events: list[dict], tail: str, took: float) -> Result:
    final = next((e for e in reversed(events) if e.get("type") == "result"), None)
    session = next((e.get("session_id") for e in events if e.get("session_id")), None)
    if code is None:
        why = f"claude timed out after {settings.timeout}s"
        return Result(False, None, took, why, session=session, transient=True)
    if final is None:
        return Result(False, code, took, f"claude exited {code} without a result: {tail or 'no output'}")
    usage = final.get("usage") or {}
    result = Result(
        ok=code == 0 and final.get("subtype") == "success" and not final.get("is_error"),
        exit_code=code,
        duration_s=took,
        turns=final.get("num_turns"),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cost_usd=final.get("total_cost_usd"),
        session=session,
        answer=final.get("result") if isinstance(final.get("result"), str) else None,
    )
    if result.ok:
        return result
    if final.get("subtype") == "error_max_turns":
        error = f"the agent ran out of turns (max_turns {settings.max_turns})"
    else:
        error = f"claude failed: {str(final.get('result') or final.get('subtype') or tail)[:300]}"
    return replace(result, error=error, transient=_transient(final))


def _transient(final: dict[str, Any]) -> bool:
    """Whether the run stopped on an API error a later run may not meet: the server's (5xx), too
    many requests (429), no answer at all (the connection); not a request refused (a bad key)."""
    if final.get("terminal_reason") != "api_error":
        return False
    status = final.get("api_error_status")
    return not isinstance(status, int) or status >= 500 or status in RETRYABLE


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.agents import Agent
    from pipelines.agents import claude_code as this

    _: Agent = this
