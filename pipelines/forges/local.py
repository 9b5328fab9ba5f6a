"""No forge: push the branch to the repo's remote; the merge request is the record in mr.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from pipelines import git
from pipelines.forges import MergeRequest


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["local"]


def publish(settings: Settings, mr: MergeRequest) -> dict[str, Any]:
    git.push(mr.mirror, mr.remote, mr.commit, mr.branch, mr.remote_head)
    return {"forge": "local", "url": mr.url, "branch": mr.branch, "state": "open"}


def describe(settings: Settings, record: dict[str, Any], body: str) -> None:
    """A branch has no description to set: the body lives in shipyard's records."""


def status(settings: Settings, record: dict[str, Any]) -> dict[str, Any]:
    """A branch on a remote has no review state or checks of its own: what was recorded."""
    return {"state": record["state"], "checks": "none"}


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.forges import Forge
    from pipelines.forges import local as this

    _: Forge = this
