"""Forges publish a merge request. Each backend is one module with the members of `Forge`.

`publish` pushes the branch and finds, creates or updates the merge request for it; running it
twice leaves one branch and one merge request. It returns what `mr.json` records. `describe`
sets the body of a merge request that exists (the ship step's links between siblings); `status`
reads its state and checks back (`doit status`); `land` merges it, bound to the commit shipyard
pushed: `{"state": "merged", "commit": ...}`, or `{"state": "waiting", "why": ...}` while its
approvals or checks are pending; a StepError when it cannot land. A backend that talks to a server also has
`read_issue(url, token)` (for `doit intake`).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from pipelines.errors import StepError
from pipelines.files import write_json
from pipelines.plugins import Backend

T = TypeVar("T")


@dataclass(frozen=True)
class MergeRequest:
    repo: str
    url: str  # the remote as repos.yaml spells it
    remote: str  # the remote as git reaches it
    mirror: Path
    branch: str
    remote_head: str | None  # where the branch is on the remote now; None when it is not there
    commit: str
    base: str
    title: str
    body: str
    target_branch: str = "main"


class Record(BaseModel):
    """`mr.json`: the merge request of one repo of a ticket, as the mr step writes it. A forge adds
    fields of its own (GitHub's `number`, GitLab's `iid`); `state` is open, no-change or merged."""

    model_config = ConfigDict(extra="allow", frozen=True)
    ticket: str
    repo: str
    base: str
    state: str
    forge: str | None = None
    url: str | None = None
    branch: str | None = None
    commit: str | None = None
    title: str | None = None
    body: str | None = None
    patch_sha256: str | None = None  # the patch.diff this merge request holds (a newer one makes it outdated)

    @classmethod
    def read(cls, path: Path) -> Record:
        return cls.model_validate_json(path.read_bytes())

    def moved(self, kind: str) -> str | None:
        """Why this merge request is not the forge's `kind` any more (repos.yaml moved it), if so."""
        if (self.forge or kind) == kind:
            return None
        return f"opened on {self.forge}; repos.yaml now says {kind}: ship to move it"

    def write(self, path: Path) -> None:
        write_json(path, self.model_dump(mode="json", exclude_none=True))


class ForgeSettings(Backend, Protocol):
    @property
    def delete_branch(self) -> bool: ...


class Forge(Protocol):
    """A forge backend: a module with these members."""

    def publish(self, settings: Any, mr: MergeRequest) -> dict[str, Any]: ...

    def describe(self, settings: Any, record: dict[str, Any], body: str) -> None: ...

    def status(self, settings: Any, record: dict[str, Any]) -> dict[str, Any]: ...

    def land(self, settings: Any, mr: MergeRequest, record: dict[str, Any]) -> dict[str, Any]: ...


TOKEN_WAIT = 60  # seconds a token_cmd may take (a password manager asking for its passphrase)


def token(
    env_name: str | None, command: str | None, what: str, other: str = "token_cmd in repos.yaml",
    wait: float = TOKEN_WAIT,
) -> str:  # fmt: skip
    """A forge token, read now from the environment or a command; never stored anywhere.

    Errors name the variable or the command, never a value.
    """
    if command:
        try:
            proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=wait)
        except subprocess.TimeoutExpired:
            raise StepError(f"{what}: token_cmd `{command}` gave no token in {wait:g}s") from None
        if proc.returncode or not proc.stdout.strip():
            raise StepError(f"{what}: token_cmd `{command}` gave no token (exit {proc.returncode})")
        return proc.stdout.strip()
    if env_name and os.environ.get(env_name):
        return os.environ[env_name]
    raise StepError(f"{what}: no token: set {env_name} (or {other})")


def retry(call: Callable[[], T], transient: Callable[[Exception], bool], attempts: int = 4,
          backoff: float = 0.5, cap: float = 8.0) -> T:  # fmt: skip
    """`call()`, again after a pause that doubles up to `cap`, while it fails in a `transient` way
    (429, 5xx, a timeout). The call must be safe to repeat: find before create."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as err:
            if attempt == attempts - 1 or not transient(err):
                raise
            time.sleep(min(cap, backoff * 2**attempt))
    raise AssertionError("unreachable")
