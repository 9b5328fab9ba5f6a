"""The gitlab forge against a local GitLab: real git remotes, python-gitlab over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from conftest import git, make_remote
from fake_gitlab import FakeGitLab

from pipelines import git as shipyard_git
from pipelines.errors import StepError
from pipelines.forges import MergeRequest
from pipelines.forges import gitlab as gitlab_forge

TOKEN = "glpat-secret-value-123"
BRANCH = "shipyard/T-1-fix-it"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with FakeGitLab(token=TOKEN) as server:
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path / "remotes" / "app.git", {"README.md": "hello\n"})


def settings(fake: FakeGitLab, **fields: object) -> gitlab_forge.Settings:
    defaults = {"url": fake.url, "project": "group/name", "timeout": 1, "backoff": 0.05}
    return gitlab_forge.Settings(kind="gitlab", **{**defaults, **fields})  # type: ignore[arg-type]


def change(remote: Path, text: str, body: str = "First body") -> MergeRequest:
    """The merge request shipyard would publish: one commit adding NEW.md on main, in a mirror."""
    mirror = remote.parent.parent / "mirrors" / "app.git"
    shipyard_git.ensure_mirror(mirror, str(remote))
    base = shipyard_git.rev(mirror, "refs/remotes/origin/main")
    assert base
    patch = "diff --git a/NEW.md b/NEW.md\nnew file mode 100644\n--- /dev/null\n+++ b/NEW.md\n"
    patch += f"@@ -0,0 +1 @@\n+{text}\n"
    tree = shipyard_git.tree_of(mirror, base, patch.encode())
    sha = shipyard_git.commit(mirror, tree, base, "Fix it\n\nShipyard-Ticket: T-1\n")
    return MergeRequest(
        repo="app", url=str(remote), remote=str(remote), mirror=mirror, branch=BRANCH,
        remote_head=shipyard_git.remote_branch(mirror, str(remote), BRANCH), commit=sha, base=base,
        title="Fix it (T-1)", body=body, target_branch="main",
    )  # fmt: skip


def test_import_gitlab_is_python_gitlab() -> None:
    assert gitlab_forge.gitlab.__name__ == "gitlab"
    assert hasattr(gitlab_forge.gitlab, "Gitlab")


def test_publish_twice_leaves_one_merge_request(fake: FakeGitLab, remote: Path) -> None:
    mr = change(remote, "one")
    first = gitlab_forge.publish(settings(fake), mr)
    assert first == {
        "forge": "gitlab", "url": f"{fake.url}/group/name/-/merge_requests/1", "iid": 1, "state": "open",
        "head_sha": mr.commit, "branch": BRANCH, "draft": False,
    }  # fmt: skip
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}") == mr.commit
    [created] = fake.merge_requests["group/name"]
    assert (created["source_branch"], created["target_branch"]) == (BRANCH, "main")
    assert (created["title"], created["description"]) == ("Fix it (T-1)", "First body")

    again = change(remote, "two", body="Second body")
    second = gitlab_forge.publish(settings(fake), again)
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}") == again.commit
    assert second["iid"] == 1 and second["head_sha"] == again.commit
    [updated] = fake.merge_requests["group/name"]
    assert updated["description"] == "Second body"
    assert len(fake.calls("POST")) == 1
    assert [r["body"] for r in fake.calls("PUT")] == [{"description": "Second body"}]
    listed = fake.calls("GET", "/merge_requests")
    assert listed[0]["query"] == {"source_branch": BRANCH, "state": "opened"}
    assert all(r["tokens"] == {"PRIVATE-TOKEN": TOKEN} for r in fake.requests)


def test_publish_unchanged_sends_no_update(fake: FakeGitLab, remote: Path) -> None:
    mr = change(remote, "one")
    gitlab_forge.publish(settings(fake), mr)
    gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert len(fake.merge_requests["group/name"]) == 1
    assert fake.calls("PUT") == [] and len(fake.calls("POST")) == 1


@pytest.mark.parametrize("status", [500, 502, 429])
def test_passing_failures_are_retried(fake: FakeGitLab, remote: Path, status: int) -> None:
    fake.fail_next(status, times=2)
    result = gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert result["iid"] == 1
    assert len(fake.merge_requests["group/name"]) == 1
    assert [r["method"] for r in fake.requests] == ["GET", "GET", "GET", "POST"]


def test_failed_create_is_retried_after_looking_again(fake: FakeGitLab, remote: Path) -> None:
    fake.fail_next(503, method="POST")
    gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert len(fake.merge_requests["group/name"]) == 1
    assert [r["method"] for r in fake.requests] == ["GET", "POST", "GET", "POST"]


def test_create_answered_too_late_is_found_not_repeated(fake: FakeGitLab, remote: Path) -> None:
    fake.lose_next_create(1.5)  # created on the server; the client stops waiting after 1s
    result = gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert result["iid"] == 1
    assert [r["method"] for r in fake.requests] == ["GET", "POST", "GET"]
    gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert len(fake.merge_requests["group/name"]) == 1
    assert len(fake.calls("POST")) == 1


def test_retries_run_out(fake: FakeGitLab, remote: Path) -> None:
    fake.fail_next(503, times=10)
    with pytest.raises(StepError) as caught:
        gitlab_forge.publish(settings(fake, retries=3), change(remote, "one"))
    assert str(caught.value) == f"app: gitlab {fake.url} answered 503 for group/name: 503 scripted failure"
    assert len(fake.requests) == 3


def test_bad_token_is_one_line_without_the_token(
    fake: FakeGitLab, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-wrong-secret")
    with pytest.raises(StepError) as caught:
        gitlab_forge.publish(settings(fake), change(remote, "one"))
    message = str(caught.value)
    assert message == (
        f"app: gitlab {fake.url} answered 401 for group/name: check that $GITLAB_TOKEN holds a valid token"
    )
    assert "wrong-secret" not in message and "\n" not in message
    assert len(fake.requests) == 1  # a 401 is not retried
    assert fake.requests[0]["tokens"] == {"PRIVATE-TOKEN": "glpat-wrong-secret"}


def test_token_from_a_command(fake: FakeGitLab, remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITLAB_TOKEN")
    gitlab_forge.publish(settings(fake, token_cmd=f"echo {TOKEN}"), change(remote, "one"))
    assert len(fake.merge_requests["group/name"]) == 1


def test_no_token(fake: FakeGitLab, remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITLAB_TOKEN")
    with pytest.raises(StepError, match=r"app: gitlab: no token: set GITLAB_TOKEN"):
        gitlab_forge.publish(settings(fake), change(remote, "one"))


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (403, "check the token's scopes (api)"),
        (404, "check that the project exists and the token can see it"),
    ],
)
def test_refusals_carry_a_hint(fake: FakeGitLab, remote: Path, status: int, hint: str) -> None:
    fake.fail_next(status)
    with pytest.raises(StepError) as caught:
        gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert str(caught.value) == f"app: gitlab {fake.url} answered {status} for group/name: {hint}"
    assert len(fake.requests) == 1


def test_unknown_project(fake: FakeGitLab, remote: Path) -> None:
    with pytest.raises(StepError, match=r"answered 404 for group/other: check that the project exists"):
        gitlab_forge.publish(settings(fake, project="group/other"), change(remote, "one"))


def test_unreachable_server(remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with FakeGitLab(token=TOKEN) as closed:
        url = closed.url
    config = gitlab_forge.Settings(kind="gitlab", url=url, project="group/name", retries=2, backoff=0.05)
    with pytest.raises(StepError) as caught:
        gitlab_forge.publish(config, change(remote, "one"))
    assert str(caught.value).startswith(f"app: gitlab {url} could not be reached for group/name (2 tries")


def test_labels_and_draft(fake: FakeGitLab, remote: Path) -> None:
    config = settings(fake, labels=("shipyard", "bot"), draft=True)
    result = gitlab_forge.publish(config, change(remote, "one"))
    assert result["draft"] is True
    [post] = fake.calls("POST")
    assert post["body"]["labels"] == ["shipyard", "bot"]
    assert post["body"]["title"] == "Draft: Fix it (T-1)"
    fake.set_merge_request("group/name", 1, labels=["needs-review"])  # a person changed the labels
    gitlab_forge.publish(config, change(remote, "one"))
    [mr] = fake.merge_requests["group/name"]
    assert mr["labels"] == ["needs-review", "shipyard", "bot"]
    assert mr["draft"] is True and mr["title"] == "Draft: Fix it (T-1)"


def test_target_branch_follows(fake: FakeGitLab, remote: Path) -> None:
    gitlab_forge.publish(settings(fake), change(remote, "one"))
    fake.set_merge_request("group/name", 1, target_branch="develop")
    gitlab_forge.publish(settings(fake), change(remote, "one"))
    assert fake.merge_requests["group/name"][0]["target_branch"] == "main"


def test_status(fake: FakeGitLab, remote: Path) -> None:
    config = settings(fake)
    record = {"repo": "app", **gitlab_forge.publish(config, change(remote, "one"))}
    assert gitlab_forge.status(config, record) == {"state": "open", "checks": "none"}
    fake.set_merge_request("group/name", 1, head_pipeline={"id": 9, "status": "running"})
    assert gitlab_forge.status(config, record) == {"state": "open", "checks": "running"}
    fake.set_merge_request("group/name", 1, state="merged", head_pipeline={"id": 9, "status": "success"})
    assert gitlab_forge.status(config, record) == {"state": "merged", "checks": "success"}
    fake.set_merge_request("group/name", 1, state="closed", head_pipeline={"id": 9, "status": "failed"})
    assert gitlab_forge.status(config, record) == {"state": "closed", "checks": "failed"}


def test_read_issue(fake: FakeGitLab) -> None:
    fake.add_issue("group/name", "First", "not this one", [])
    fake.add_issue("group/name", "Crash on save", "Steps:\n1. save", ["bug", "p1"])
    issue = gitlab_forge.read_issue(f"{fake.url}/group/name/-/issues/2", TOKEN)
    assert issue == {
        "title": "Crash on save", "body": "Steps:\n1. save", "labels": ["bug", "p1"],
        "url": f"{fake.url}/group/name/-/issues/2", "number": 2, "repo": "group/name",
        "updated_at": "2026-01-02T03:04:05.000Z",
    }  # fmt: skip
    assert fake.requests[-1]["path"] == "/api/v4/projects/group/name/issues/2"


def test_read_issue_errors(fake: FakeGitLab) -> None:
    with pytest.raises(StepError, match="not a GitLab issue URL"):
        gitlab_forge.read_issue(f"{fake.url}/group/name/-/merge_requests/2", TOKEN)
    with pytest.raises(StepError) as caught:
        gitlab_forge.read_issue(f"{fake.url}/group/name/-/issues/1", "glpat-wrong-secret")
    assert str(caught.value).startswith(f"group/name#1: gitlab {fake.url} answered 401 for group/name")
    assert "wrong-secret" not in str(caught.value)
    with pytest.raises(StepError, match="answered 404 for group/name: check that the project exists"):
        gitlab_forge.read_issue(f"{fake.url}/group/name/-/issues/5", TOKEN)


def test_the_token_is_no_setting(fake: FakeGitLab) -> None:
    with pytest.raises(pydantic.ValidationError):
        gitlab_forge.Settings(kind="gitlab", project="group/name", token=TOKEN)  # type: ignore[call-arg]
