"""The GitHub forge against a local GitHub: real git remote, real PyGithub, only the server is fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git as run_git
from conftest import make_remote
from fake_github import FakeGitHub

from pipelines import git
from pipelines.errors import StepError
from pipelines.forges import MergeRequest
from pipelines.forges import github as forge

TOKEN = "ghp-test-secret-0123456789"
BRANCH = "shipyard/T1-greeting"
PATCH = b"""diff --git a/NEW.md b/NEW.md
new file mode 100644
--- /dev/null
+++ b/NEW.md
@@ -0,0 +1 @@
+hello
"""


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path / "remotes" / "app.git", {"README.md": "# app\n"})


@pytest.fixture
def fake(remote: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with FakeGitHub(token=TOKEN, remotes={"acme/app": remote}) as server:
        yield server


def settings(fake: FakeGitHub, **extra: Any) -> forge.Settings:
    return forge.Settings(kind="github", repo="acme/app", api_url=fake.url, timeout=1, backoff=0.05, **extra)


def request(remote: Path, tmp_path: Path, body: str = "First body.", line: str = "hello") -> MergeRequest:
    """What merge_requests.make hands a forge: a commit of the patch on the base, in the mirror."""
    mirror = tmp_path / "mirrors" / "app.git"
    git.ensure_mirror(mirror, str(remote))
    base = git.rev(mirror, "refs/remotes/origin/main")
    assert base
    tree = git.tree_of(mirror, base, PATCH.replace(b"+hello", f"+{line}".encode()))
    commit = git.commit(mirror, tree, base, "Greeting\n\nShipyard-Ticket: T1\n")
    return MergeRequest(repo="app", url=str(remote), remote=str(remote), mirror=mirror, branch=BRANCH,
                        remote_head=git.remote_branch(mirror, str(remote), BRANCH), commit=commit, base=base,
                        title="Greeting (T1)", body=body)  # fmt: skip


def test_publish_twice_keeps_one_pull_request_and_updates_it(fake: FakeGitHub, remote: Path, tmp_path: Path):
    first = forge.publish(settings(fake), request(remote, tmp_path))
    assert run_git(remote, "rev-parse", BRANCH) == first["head_sha"]
    assert first["forge"] == "github" and first["state"] == "open" and first["branch"] == BRANCH
    assert first["url"] == f"{fake.web}/acme/app/pull/{first['number']}"
    created = fake.seen("POST", r"/pulls$")[0]["body"]
    assert created == {"base": "main", "head": BRANCH, "title": "Greeting (T1)", "body": "First body.",
                       "draft": False}  # fmt: skip
    assert fake.seen("GET", r"/pulls$")[0]["query"]["head"] == f"acme:{BRANCH}"

    second = forge.publish(settings(fake), request(remote, tmp_path, body="Second body.", line="hi"))
    [pull] = fake.pulls("acme/app")
    assert second["number"] == first["number"] == pull["number"]
    assert pull["body"] == "Second body." and pull["sha"] == second["head_sha"] != first["head_sha"]
    assert run_git(remote, "rev-parse", BRANCH) == second["head_sha"]
    assert len(fake.seen("POST", r"/pulls$")) == 1

    forge.publish(settings(fake), request(remote, tmp_path, body="Second body.", line="hi"))
    assert len(fake.seen("PATCH", r"/pulls/")) == 1  # nothing changed: nothing edited
    assert set(fake.auth_seen) == {f"token {TOKEN}"}


def test_server_errors_are_retried_without_a_second_pull_request(
    fake: FakeGitHub, remote: Path, tmp_path: Path
):
    fake.fail_next(500, times=2, method="POST", path="/pulls")
    forge.publish(settings(fake), request(remote, tmp_path))
    assert len(fake.pulls("acme/app")) == 1
    assert len(fake.seen("POST", r"/pulls$")) == 3
    fake.fail_next(502, times=1)
    fake.fail_next(429, times=1)
    forge.publish(settings(fake), request(remote, tmp_path, body="Again."))
    assert [p["body"] for p in fake.pulls("acme/app")] == ["Again."]
    fake.fail_next(503, times=10)
    with pytest.raises(StepError, match=r"^app: github \S+ answered 503 for acme/app: scripted 503$"):
        forge.publish(settings(fake, retries=3), request(remote, tmp_path))
    assert fake.seen("GET", "/pulls$")[-3:] == fake.requests[-3:]  # three attempts, then the error


def test_a_create_whose_answer_times_out_is_found_not_repeated(
    fake: FakeGitHub, remote: Path, tmp_path: Path
):
    fake.stall_next_create(1.5)  # longer than the client's 1 s timeout
    record = forge.publish(settings(fake), request(remote, tmp_path))
    [pull] = fake.pulls("acme/app")
    assert record["number"] == pull["number"]
    assert len(fake.seen("POST", r"/pulls$")) == 1  # the retry looked first, and found it
    forge.publish(settings(fake), request(remote, tmp_path))
    assert len(fake.pulls("acme/app")) == 1


def test_servers_that_ignore_the_head_filter_do_not_mix_up_pull_requests(
    fake: FakeGitHub, remote: Path, tmp_path: Path
):
    run_git(remote, "branch", "other", "main")
    other = fake.add_pull("acme/app", "other", "Other", "theirs")
    fake.ignore_head_filter = True
    record = forge.publish(settings(fake), request(remote, tmp_path))
    assert record["number"] != other
    assert fake.items["acme/app"][other]["body"] == "theirs"
    assert len(fake.pulls("acme/app")) == 2


def test_wrong_token_is_one_line_naming_repo_and_server_without_the_token(
    fake: FakeGitHub, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-wrong-secret-999")
    with pytest.raises(StepError) as caught:
        forge.publish(settings(fake), request(remote, tmp_path))
    message = str(caught.value)
    assert message == (
        f"app: github {fake.url} answered 401 for acme/app: check that $GITHUB_TOKEN holds a valid token"
    )
    assert "secret" not in message and "\n" not in message
    assert len(fake.requests) == 1  # 401 is not retried


def test_missing_repo_and_unset_token(fake: FakeGitHub, remote: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch):  # fmt: skip
    with pytest.raises(StepError, match="answered 404 for acme/nope: check that the repo exists"):
        forge.publish(
            forge.Settings(kind="github", repo="acme/nope", api_url=fake.url), request(remote, tmp_path)
        )
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(StepError, match=r"^app: no token: set GITHUB_TOKEN"):
        forge.publish(settings(fake), request(remote, tmp_path))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    record = forge.publish(settings(fake, token_cmd=f"cat {token_file}"), request(remote, tmp_path))
    assert record["number"] == 1


def test_unreachable_server_is_one_line(remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with FakeGitHub() as gone:
        url = gone.url
    dead = forge.Settings(kind="github", repo="acme/app", api_url=url, timeout=1, retries=2, backoff=0.01)
    with pytest.raises(StepError, match=r"^app: github .* did not answer for acme/app: ConnectionError$"):
        forge.publish(dead, request(remote, tmp_path))


def test_labels_and_draft(fake: FakeGitHub, remote: Path, tmp_path: Path):
    chosen = settings(fake, labels=("shipyard", "bot"), draft=True)
    record = forge.publish(chosen, request(remote, tmp_path))
    [pull] = fake.pulls("acme/app")
    assert record["draft"] is True and pull["draft"] is True
    assert pull["labels"] == ["shipyard", "bot"]
    pull["labels"].append("needs-review")  # a person adds one: it stays
    record = forge.publish(settings(fake, labels=("shipyard", "urgent")), request(remote, tmp_path))
    assert pull["labels"] == ["shipyard", "bot", "needs-review", "urgent"]
    assert record["draft"] is False and pull["draft"] is False  # marked ready through GraphQL
    assert fake.seen("POST", r"^/api/graphql$")


def test_status_reads_state_and_checks(fake: FakeGitHub, remote: Path, tmp_path: Path):
    record = forge.publish(settings(fake), request(remote, tmp_path))
    sha = record["head_sha"]
    assert forge.status(settings(fake), record) == {"state": "open", "checks": "none"}
    fake.statuses[sha] = [{"state": "success", "context": "ci/lint"}]
    assert forge.status(settings(fake), record)["checks"] == "success"
    fake.check_runs[sha] = [{"id": 1, "name": "test", "status": "in_progress", "conclusion": None}]
    assert forge.status(settings(fake), record)["checks"] == "pending"
    fake.check_runs[sha] = [{"id": 1, "name": "test", "status": "completed", "conclusion": "failure"}]
    assert forge.status(settings(fake), record)["checks"] == "failure"
    fake.check_runs[sha] = [{"id": 1, "name": "test", "status": "completed", "conclusion": "success"}]
    fake.merge("acme/app", record["number"])
    assert forge.status(settings(fake), record) == {"state": "merged", "checks": "success"}


def test_read_issue(fake: FakeGitHub):
    number = fake.add_issue("acme/app", "Add a greeting", "Say hello.", labels=("feature",))
    issue = forge.read_issue(f"{fake.web}/acme/app/issues/{number}", TOKEN)
    assert (
        issue["title"] == "Add a greeting"
        and issue["body"] == "Say hello."
        and issue["labels"] == ["feature"]
    )
    assert issue["url"] == f"{fake.web}/acme/app/issues/{number}" and issue["number"] == number
    assert issue["repo"] == "acme/app" and issue["updated_at"].endswith("+00:00")
    with pytest.raises(StepError, match="answered 404 for acme/app") as caught:
        forge.read_issue(f"{fake.web}/acme/app/issues/99", TOKEN)
    assert TOKEN not in str(caught.value)
    with pytest.raises(StepError, match="answered 401") as caught:
        forge.read_issue(f"{fake.web}/acme/app/issues/{number}", "ghp-wrong")
    assert "ghp-wrong" not in str(caught.value)
    with pytest.raises(StepError, match="not a GitHub issue address"):
        forge.read_issue(f"{fake.web}/acme/app/pull/{number}", TOKEN)
