"""Patches capture every kind of change, and apply to a clean verify tree exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_remote

from pipelines import git
from pipelines.errors import StepError


def test_diff_holds_new_deleted_renamed_and_binary_files_and_applies(tmp_path: Path) -> None:
    remote = make_remote(
        tmp_path / "r.git",
        {
            "keep.txt": "one\n",
            "gone.txt": "bye\n",
            "old_name.txt": "same content\n" * 20,
            "blob.bin": bytes(range(256)),
        },
    )
    mirror = tmp_path / "mirror.git"
    git.ensure_mirror(mirror, str(remote))
    base = git.rev(mirror, "refs/remotes/origin/main")
    work = tmp_path / "work"
    git.checkout(mirror, work, base)
    (work / "keep.txt").write_text("two\n")
    (work / "gone.txt").unlink()
    (work / "old_name.txt").rename(work / "new_name.txt")
    (work / "blob.bin").write_bytes(bytes(reversed(range(256))))
    (work / "added.txt").write_text("hello\n")
    patch = git.diff(mirror, work, base)
    text = patch.decode()
    assert "new file mode" in text and "deleted file mode" in text
    assert "rename from old_name.txt" in text and "GIT binary patch" in text

    verify = tmp_path / "verify"
    git.checkout(mirror, verify, base)
    git.apply(mirror, verify, patch)
    assert git.holds(mirror, verify, base, patch)
    assert (verify / "blob.bin").read_bytes() == bytes(reversed(range(256)))
    index = git.admin_dir(mirror, verify) / "index"
    assert git.tree_of(mirror, base, patch) == git.git(
        verify, "write-tree", env=git.at(mirror, verify, index)
    )
    # a worktree is made anew: leftovers of an earlier run are gone
    (work / "junk.txt").write_text("x")
    git.checkout(mirror, work, base)
    assert not (work / "junk.txt").exists() and (work / "gone.txt").exists()


def test_the_same_change_gives_the_same_patch_bytes(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "r.git", {"a.py": "x = 1\n"})
    mirror = tmp_path / "m.git"
    git.ensure_mirror(mirror, str(remote))
    base = git.rev(mirror, "refs/remotes/origin/main")
    patches = []
    for name in ("w1", "w2"):
        git.checkout(mirror, tmp_path / name, base)
        (tmp_path / name / "a.py").write_text("x = 2\n")
        patches.append(git.diff(mirror, tmp_path / name, base))
    assert patches[0] == patches[1] and patches[0]


def test_a_push_stopped_by_a_lock_a_killed_git_left_names_the_lock(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "r.git", {"a.txt": "a\n"})
    mirror = tmp_path / "mirror.git"
    git.ensure_mirror(mirror, str(remote))
    base = git.rev(mirror, "refs/remotes/origin/main")
    assert base is not None
    lock = remote / "refs" / "heads" / "shipyard" / "T-1.lock"  # what a push killed midway leaves
    lock.parent.mkdir(parents=True)
    lock.touch()
    with pytest.raises(StepError) as failed:
        git.push(mirror, str(remote), base, "shipyard/T-1", None)
    assert str(failed.value) == (
        f"git push failed: {lock} exists: a git process stopped there left it; remove it if no git is "
        "running there"
    )
    assert lock.exists()  # the user's remote: shipyard never removes what it cannot prove its own
    lock.unlink()
    git.push(mirror, str(remote), base, "shipyard/T-1", None)


ADVICE = "\nPlease make sure you have the correct access rights\nand the repository exists.\n"


@pytest.mark.parametrize(
    ("stderr", "said"),
    [
        (
            "fatal: '/r/lib.gt' does not appear to be a git repository\n"
            "fatal: Could not read from remote repository.\n" + ADVICE,
            "fatal: '/r/lib.gt' does not appear to be a git repository",
        ),
        (
            "ssh: Could not resolve hostname gitlab.exmple.com: Name or service not known\r\n"
            "fatal: Could not read from remote repository.\n" + ADVICE,
            "ssh: Could not resolve hostname gitlab.exmple.com: Name or service not known",
        ),
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/acme/lib.git/' not found\n",
            "fatal: repository 'https://github.com/acme/lib.git/' not found",
        ),
        (
            "hint: something\nerror: pathspec 'x' did not match\nhint: more\n",
            "error: pathspec 'x' did not match",
        ),
        ("warning: one\nsomething else went wrong\n", "something else went wrong"),
        ("", ""),
    ],
)
def test_why_git_failed_is_its_fatal_line_not_its_closing_advice(stderr: str, said: str) -> None:
    assert git.why(stderr) == said


def test_many_tickets_check_out_worktrees_of_one_mirror_at_once_and_none_collides(tmp_path: Path) -> None:
    """Six tickets' `work/` and `verify/` of one repo, made side by side again and again: every
    checkout succeeds, and each worktree has a git folder of its own."""
    from concurrent.futures import ThreadPoolExecutor

    remote = make_remote(tmp_path / "r.git", {"a.txt": "one\n"})
    mirror = tmp_path / "mirror.git"
    git.ensure_mirror(mirror, str(remote))
    base = git.rev(mirror, "refs/remotes/origin/main") or ""
    trees = [tmp_path / "state" / f"T-{n}" / "lib" / kind for n in range(6) for kind in ("work", "verify")]

    def make(tree: Path) -> Path:
        admin = git.checkout(mirror, tree, base)
        (tree / "a.txt").write_text(f"{tree}\n")
        assert git.changed(mirror, tree, base) == ("a.txt",)
        return admin

    for _ in range(8):
        with ThreadPoolExecutor(6) as pool:
            admins = list(pool.map(make, trees))
        assert len(set(admins)) == len(trees)
        assert all(git.admin_dir(mirror, tree) == admin for tree, admin in zip(trees, admins, strict=True))
