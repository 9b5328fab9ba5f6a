"""shipyard's own bare clone of each repo, under state/mirrors/; created and fetched on demand."""

from __future__ import annotations

from pathlib import Path

from pipelines import git
from pipelines.config import RepoSpec
from pipelines.errors import StepError
from pipelines.paths import Paths


def url(paths: Paths, spec: RepoSpec) -> str:
    return git.resolve_url(spec.url, paths.root)


def ensure(paths: Paths, name: str, spec: RepoSpec, fetch: bool = True) -> Path:
    """The mirror of repo `name`, fetched from its remote (which `seed` creates if missing)."""
    mirror = paths.mirror(name)
    remote = url(paths, spec)
    with git.mirror_lock(mirror):
        if spec.seed and not Path(remote).exists():
            git.seed_remote(Path(remote), paths.root / spec.seed)
        try:
            created = git.ensure_mirror(mirror, remote)
        except StepError as err:
            raise StepError(f"repo {name}: cannot fetch {spec.url}: {err}") from None
        if not created:
            git.drop_stale_locks(mirror)  # a fetch killed midway; none is running: we hold its lock
        if fetch and not created:
            try:
                git.fetch(mirror, remote)
            except StepError as err:
                raise StepError(f"repo {name}: cannot fetch {spec.url}: {err}") from None
    return mirror


def tip(paths: Paths, name: str, spec: RepoSpec) -> str:
    """The commit at the tip of the repo's default branch, freshly fetched."""
    mirror = ensure(paths, name, spec)
    sha = git.rev(mirror, f"refs/remotes/origin/{spec.default_branch}")
    if sha is None:
        raise StepError(f"repo {name}: branch {spec.default_branch!r} not found at {spec.url}")
    return sha


def has(paths: Paths, name: str, sha: str) -> bool:
    mirror = paths.mirror(name)
    return (mirror / "HEAD").exists() and git.rev(mirror, sha) == sha
