"""Forges publish a merge request. Each backend: a `Settings` model and `publish(settings, mr)`.

`publish` pushes the branch and finds, creates or updates the merge request for it; running it
twice leaves one branch and one merge request. It returns what `mr.json` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
