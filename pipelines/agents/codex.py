"""Codex, headless: `codex exec --json` in the worktree, with a CODEX_HOME shipyard writes.

The config names the model provider and turns the update check off; the guard is its PreToolUse
hook (Codex keeps Claude Code's hook contract). CODEX_HOME is a temporary folder, so Codex's own
session files (which would hold whatever the agent's shells printed) never land in state/.
Codex has no network: its provider's `base_url` is the model proxy's bridge, and its key variable
holds a placeholder; the proxy adds the user's key on the way to `base_url`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines import guard, proxy, streams, tools
from pipelines.agents import Job, Result

USES_ENV: bool = True  # it runs the repo's tests in the repo's own env
SKILLS_DIR: str | None = ".agents/skills"
# where `npm ci` in shipyard's checkout puts the CLI (package.json pins it)
NODE_BIN = Path(__file__).resolve().parents[2] / "node_modules" / ".bin"
# How Codex words a failure on the way (the server's, too many requests, the connection): its
# JSON events carry no status of their own (0.169 says "high demand" for a 500).
TRANSIENT = re.compile(
    r"last status: (429|5\d\d)|high demand|stream disconnected|error sending request|connection", re.I
)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["codex"]
    model: str = "gpt-5-codex"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"  # the variable holding the key, read at the moment of use
    timeout: int = Field(default=1800, gt=0)
    repair_rounds: int = Field(default=2, ge=0)
    retries: int = Field(default=0, ge=0)  # runs again after an API error or a timeout, at most
    inputs: ClassVar[tuple[str, ...]] = ()


API_PATHS = ("/responses",)  # below `base_url`: all the proxy lets Codex ask


def binary() -> str | None:
    """`codex` from PATH, else the one `npm ci` installed beside shipyard."""
    found = tools.which("codex")
    if found:
        return found
    local = NODE_BIN / "codex"
    return str(local) if local.exists() else None


def config_toml(settings: Settings, job: Job, url: str, report: Path) -> str:
    provider = {
        "name": "shipyard",
        "base_url": url,  # the model proxy, which alone reaches `settings.base_url`
        "wire_api": "responses",
        "env_key": settings.api_key_env,
        "request_max_retries": 0,
        "stream_max_retries": 0,
    }
    hook = {"type": "command", "command": guard.hook_command(job.worktree, report, job.protected)}
    lines = [
        f"model = {json.dumps(settings.model)}",
        'model_provider = "shipyard"',
        "check_for_update_on_startup = false",
        "",
        "[model_providers.shipyard]",
        *(f"{key} = {json.dumps(value)}" for key, value in provider.items()),
        "",
        "[[hooks.PreToolUse]]",
        'matcher = "*"',
        "[[hooks.PreToolUse.hooks]]",
        *(f"{key} = {json.dumps(value)}" for key, value in hook.items()),
    ]
    return "\n".join(lines) + "\n"


def route(settings: Settings, key: str) -> proxy.Route:
    """Where the model proxy sends Codex's requests (its `base_url`), with the key it adds."""
    prefix = urllib.parse.urlsplit(settings.base_url).path.rstrip("/")
    return proxy.Route(settings.base_url, API_PATHS, {"authorization": f"Bearer {key}"}, prefix=prefix)


def resume(settings: Settings, job: Job, session: str | None) -> Result:
    """A repair round: a new session told the ticket's prompt and the failing gate reports."""
    return run(settings, job)


def run(settings: Settings, job: Job) -> Result:
    exe = binary()
    if exe is None:
        why = "the codex CLI is not installed; run `npm ci` in shipyard's checkout"
        return Result(False, None, 0.0, why, blameless=True)
    key = os.environ.get(settings.api_key_env, "")
    if not key and job.model is None:
        why = f"{settings.api_key_env} is not set; Codex needs the model's key"
        return Result(False, None, 0.0, why, blameless=True)
    api = route(settings, key)
    # in the sandbox's HOME (not under TMPDIR, where Codex refuses to work); its config read-only
    with (
        tempfile.TemporaryDirectory(prefix=".codex-", dir=job.env["HOME"]) as home,
        proxy.serve(api, job.proxy_log, job.guard_log, sandboxed=job.box.enabled, answer=job.model) as door,
    ):
        config = Path(home) / "config.toml"
        config.write_text(config_toml(settings, job, door.url, door.guard))
        env = {**job.env, "CODEX_HOME": home, settings.api_key_env: proxy.PLACEHOLDER}
        box = job.box.allow(writable=[Path(home)], readable=[config, door.folder], network=False)
        argv = [
            exe, "exec", "--json", "-s", "read-only" if job.read_only else "workspace-write",
            "--skip-git-repo-check",
            "--dangerously-bypass-hook-trust",  # our own hook, written just now: nothing to review
            "-",  # the prompt on stdin: argv has a size limit a long ticket reaches
        ]  # fmt: skip
        started = time.monotonic()
        secrets = [key] if key else []
        code, events, tail = streams.run_json_lines(
            door.wrap(argv), box, env, settings.timeout, job.transcript, secrets, job.prompt, door.fatal.event
        )
    took = round(time.monotonic() - started, 3)
    if door.fatal.why:  # the API cannot be reached or refused the key: not the change's fault
        return Result(False, code, took, door.fatal.why, transient=True, blameless=True)
    return _result(settings, code, events, tail, took)


def _result(settings: Settings, code: int | None, events: list[dict], tail: str, took: float) -> Result:
    if code is None:
        return Result(False, None, took, f"codex timed out after {settings.timeout}s", transient=True)
    failed = next((e for e in events if e.get("type") == "turn.failed"), None)
    if failed is not None:
        message = str((failed.get("error") or {}).get("message", ""))
        return Result(
            False, code, took, f"codex failed: {message[:300]}", transient=bool(TRANSIENT.search(message))
        )
    done = [e for e in events if e.get("type") == "turn.completed"]
    if code != 0 or not done:
        return Result(
            False, code, took, f"codex exited {code} without finishing its turn: {tail or 'no output'}"
        )
    usage = done[-1].get("usage") or {}
    items = [e.get("item") or {} for e in events if e.get("type") == "item.completed"]
    said = [item.get("text") for item in items if item.get("type") == "agent_message"]
    return Result(True, 0, took, turns=len(items), input_tokens=usage.get("input_tokens"),
                  output_tokens=usage.get("output_tokens"), answer=said[-1] if said else None)  # fmt: skip


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.agents import Agent
    from pipelines.agents import codex as this

    _: Agent = this
