"""No forge: push the branch to the repo's remote; the merge request is the record in mr.json."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from pipelines import git
from pipelines.errors import StepError
from pipelines.forges import MergeRequest


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["local"]
    delete_branch: bool = True  # once it landed, the branch goes from the remote
    # how it lands on a default branch that moved since the base: not at all (refresh first), or
    # in a merge commit (when the two merge without a conflict)
    merge: Literal["fast-forward", "merge-commit"] = "fast-forward"


def publish(settings: Settings, mr: MergeRequest) -> dict[str, Any]:
    git.push(mr.mirror, mr.remote, mr.commit, mr.branch, mr.remote_head)
    return {"forge": "local", "url": mr.url, "branch": mr.branch, "state": "open"}


def describe(settings: Settings, record: dict[str, Any], body: str) -> None:
    """A branch has no description to set: the body lives in shipyard's records."""


def land(settings: Settings, mr: MergeRequest, record: dict[str, Any]) -> dict[str, Any]:
    """A fast-forward of the default branch to the pushed commit, as a compare-and-swap: only while
    the branch is at that commit and the default branch at the base. Landed already counts."""
    tip = git.remote_branch(mr.mirror, mr.remote, mr.target_branch)
    if tip is not None and git.contains(mr.mirror, tip, mr.commit):  # a rerun, or landed by hand
        return {"state": "merged", "commit": tip}
    git.check_head(mr.mirror, mr.remote, mr.branch, mr.commit)
    landing = mr.commit
    if tip != mr.base:
        moved = f"{mr.target_branch} moved from the base {mr.base[:12]} to {(tip or 'nothing')[:12]}"
        if settings.merge != "merge-commit" or tip is None:
            raise StepError(f"{moved}: refresh the ticket")
        landing = git.merge_commit(mr.mirror, tip, mr.commit, f"Merge {mr.branch}\n\n{mr.title}\n")
        if landing is None:
            raise StepError(f"{moved}, and the change conflicts with it: refresh the ticket")
    git.push(mr.mirror, mr.remote, landing, mr.target_branch, tip)  # only if it is still at `tip`
    return {"state": "merged", "commit": landing}


def status(settings: Settings, record: dict[str, Any]) -> dict[str, Any]:
    """A branch on a remote has no review state or checks of its own: what was recorded."""
    return {"state": record["state"], "checks": "none"}


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.forges import Forge
    from pipelines.forges import local as this

    _: Forge = this
