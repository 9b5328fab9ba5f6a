"""shipyard's mirrors: a repo without `default_branch` follows the branch its remote's HEAD names."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, make_remote, write_files

from pipelines import mirrors
from pipelines.config import RepoSpec
from pipelines.errors import StepError
from pipelines.paths import Paths


def develop_remote(remote: Path) -> tuple[str, str]:
    """A bare remote with `main` and `develop` (one commit ahead), its HEAD on `develop`: the
    (main, develop) commits."""
    make_remote(remote, {"a.py": "x = 1\n"})
    clone = remote.with_name(remote.name + ".work")
    git(remote.parent, "clone", "-q", str(remote), clone.name)
    git(clone, "checkout", "-q", "-b", "develop")
    write_files(clone, {"a.py": "x = 2\n"})
    git(clone, "commit", "-qam", "on develop")
    git(clone, "push", "-q", "origin", "develop")
    git(remote, "symbolic-ref", "HEAD", "refs/heads/develop")
    return git(remote, "rev-parse", "main"), git(remote, "rev-parse", "develop")


def test_a_repo_without_default_branch_takes_the_one_its_remotes_head_names(tmp_path: Path) -> None:
    remote = tmp_path / "lib.git"
    main, develop = develop_remote(remote)
    paths = Paths(tmp_path / "ws")
    spec = RepoSpec(url=str(remote))
    assert mirrors.branch_tip(paths, "lib", spec) == ("develop", develop)
    assert mirrors.default_branch(paths, "lib", spec) == "develop"  # noted by the fetch: no remote asked
    assert mirrors.tip(paths, "lib", spec, "main") == main  # a branch the plan recorded, by name
    named = RepoSpec(url=str(remote), default_branch="main")
    assert mirrors.branch_tip(paths, "lib", named) == ("main", main)  # repos.yaml says so: it wins
    git(remote, "symbolic-ref", "HEAD", "refs/heads/main")  # the remote's HEAD moves: the next fetch sees it
    assert mirrors.branch_tip(paths, "lib", spec) == ("main", main)


def test_a_head_that_names_no_branch_falls_back_to_main_or_says_what_to_set(tmp_path: Path) -> None:
    remote = tmp_path / "lib.git"
    main, _ = develop_remote(remote)
    git(remote, "symbolic-ref", "HEAD", "refs/heads/master")  # `git init --bare` of another default
    paths = Paths(tmp_path / "ws")
    spec = RepoSpec(url=str(remote))
    assert mirrors.branch_tip(paths, "lib", spec) == ("main", main)
    git(remote, "branch", "-D", "main")
    with pytest.raises(StepError) as refused:
        mirrors.tip(paths, "lib", spec)
    assert str(refused.value) == (
        f"repo lib: branch 'main' not found at {remote}; "
        "its HEAD names no branch it has: set default_branch: in repos.yaml"
    )


def test_a_wrong_url_quotes_gits_fatal_line_not_its_advice(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhre.git"
    with pytest.raises(StepError) as refused:
        mirrors.ensure(Paths(tmp_path / "ws"), "lib", RepoSpec(url=str(nowhere)))
    assert str(refused.value) == (
        f"repo lib: cannot fetch {nowhere}: git fetch failed: "
        f"fatal: '{nowhere}' does not appear to be a git repository"
    )
