"""shipyard's own bare clone of each repo, under state/mirrors/; created and fetched on demand."""

from __future__ import annotations

from pathlib import Path

from pipelines import git
from pipelines.config import RepoSpec
from pipelines.errors import StepError
from pipelines.paths import Paths

# The default branch of a repo whose remote's HEAD names no branch it has (a bare repo made with
# `master` as its default, then pushed `main`): what shipyard assumed before it read the HEAD.
FALLBACK = "main"


def url(paths: Paths, spec: RepoSpec) -> str:
    return git.resolve_url(spec.url, paths.root)


def ensure(paths: Paths, name: str, spec: RepoSpec, fetch: bool = True) -> Path:
    """The mirror of repo `name`, fetched from its remote (which `seed` creates if missing); a
    repo without `default_branch:` also has its remote's HEAD read and noted in the mirror."""
    mirror = paths.mirror(name)
    remote = url(paths, spec)
    with git.mirror_lock(mirror):
        if spec.seed and not Path(remote).exists():
            git.seed_remote(Path(remote), paths.root / spec.seed)
        try:
            created = git.ensure_mirror(mirror, remote)
            if not created:
                git.drop_stale_locks(mirror)  # a fetch killed midway; none is running: we hold its lock
            if fetch and not created:
                git.fetch(mirror, remote)
            if (created or fetch) and spec.default_branch is None:
                git.record_head(mirror, git.remote_head(mirror, remote))
        except StepError as err:
            raise StepError(f"repo {name}: cannot fetch {spec.url}: {err}") from None
    return mirror


def default_branch(paths: Paths, name: str, spec: RepoSpec) -> str:
    """`default_branch:` of repos.yaml, else the branch the remote's HEAD named at the last fetch."""
    return spec.default_branch or git.recorded_head(paths.mirror(name)) or FALLBACK


def tip(paths: Paths, name: str, spec: RepoSpec, branch: str | None = None) -> str:
    """The commit at the tip of `branch` (by default the repo's default branch), freshly fetched."""
    return branch_tip(paths, name, spec, branch)[1]


def branch_tip(paths: Paths, name: str, spec: RepoSpec, branch: str | None = None) -> tuple[str, str]:
    """The branch (by default the repo's default branch) and the commit at its tip, freshly fetched."""
    mirror = ensure(paths, name, spec)
    asked = branch or default_branch(paths, name, spec)
    sha = git.rev(mirror, f"refs/remotes/origin/{asked}")
    if sha is None:
        guessed = branch is None and spec.default_branch is None and git.recorded_head(mirror) is None
        hint = "; its HEAD names no branch it has: set default_branch: in repos.yaml" if guessed else ""
        raise StepError(f"repo {name}: branch {asked!r} not found at {spec.url}{hint}")
    return asked, sha


def has(paths: Paths, name: str, sha: str) -> bool:
    mirror = paths.mirror(name)
    return (mirror / "HEAD").exists() and git.rev(mirror, sha) == sha
