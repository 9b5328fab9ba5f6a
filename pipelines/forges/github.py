"""GitHub (or GitHub Enterprise): push the branch, then find, open or update its pull request."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException, RateLimitExceededException
from github.PullRequest import PullRequest
from pydantic import BaseModel, ConfigDict, Field

from pipelines import forges, git
from pipelines.errors import StepError
from pipelines.forges import MergeRequest

T = TypeVar("T")
PASSED = ("success", "neutral", "skipped")


class Settings(BaseModel):
    """Where the pull requests go; the token itself is only read when it is used, never kept here."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["github"]
    delete_branch: bool = True  # once it landed, the branch goes from the remote
    repo: str  # owner/name
    api_url: str = "https://api.github.com"  # Enterprise: https://HOST/api/v3
    token_env: str = "GITHUB_TOKEN"
    token_cmd: str | None = None
    labels: tuple[str, ...] = ()
    draft: bool = False
    timeout: int = 30
    retries: int = Field(default=4, ge=1)
    backoff: float = 0.5
    approvals: int = Field(default=0, ge=0)  # approving reviews a pull request needs to land
    merge_method: Literal["merge", "squash", "rebase"] = "merge"


def publish(settings: Settings, mr: MergeRequest) -> dict[str, Any]:
    git.push(mr.mirror, mr.remote, mr.commit, mr.branch, mr.remote_head)
    secret = forges.token(settings.token_env, settings.token_cmd, mr.repo)
    client = _client(settings.api_url, secret, settings.timeout)
    owner = settings.repo.split("/")[0]

    def find_or_open() -> PullRequest:
        """Looks before it creates, so a retried create whose answer was lost finds its PR."""
        repo = client.get_repo(settings.repo)
        pulls = repo.get_pulls(state="open", head=f"{owner}:{mr.branch}")  # the owner prefix is required
        pr = next((p for p in pulls if p.head.ref == mr.branch), None)  # some servers ignore `head`
        if pr is None:
            pr = repo.create_pull(
                base=mr.target_branch, head=mr.branch, title=mr.title, body=mr.body, draft=settings.draft
            )
        elif (pr.title, pr.body or "") != (mr.title, mr.body):
            pr.edit(title=mr.title, body=mr.body)
        if pr.draft != settings.draft and settings.draft:  # GitHub changes this through GraphQL only
            pr.convert_to_draft()
        elif pr.draft != settings.draft:
            pr.mark_ready_for_review()
        if missing := [name for name in settings.labels if name not in {label.name for label in pr.labels}]:
            pr.add_to_labels(*missing)  # adds: labels people put on the PR stay
        return pr

    pr = _call(find_or_open, f"{mr.repo}: github {settings.api_url}", settings, secret)
    return {"forge": "github", "url": pr.html_url, "number": pr.number, "state": pr.state,
            "head_sha": mr.commit, "branch": mr.branch, "draft": bool(pr.draft)}  # fmt: skip


def describe(settings: Settings, record: dict[str, Any], body: str) -> None:
    """Set the body of the pull request `record` names, unless it says that already."""
    secret = forges.token(settings.token_env, settings.token_cmd, settings.repo)
    client = _client(settings.api_url, secret, settings.timeout)

    def edit() -> None:
        pr = client.get_repo(settings.repo).get_pull(int(record["number"]))
        if (pr.body or "") != body:
            pr.edit(body=body)

    _call(edit, f"{settings.repo}: github {settings.api_url}", settings, secret)


def status(settings: Settings, record: dict[str, Any]) -> dict[str, Any]:
    """The PR's state and one word for its checks: commit statuses and check runs (Actions) together."""
    secret = forges.token(settings.token_env, settings.token_cmd, settings.repo)
    client = _client(settings.api_url, secret, settings.timeout)

    def read() -> dict[str, Any]:
        repo = client.get_repo(settings.repo)
        pr = repo.get_pull(int(record["number"]))
        state = "merged" if pr.merged else pr.state
        return {"state": state, "checks": _checks(repo, pr.head.sha)}

    return _call(read, f"{settings.repo}: github {settings.api_url}", settings, secret)


def land(settings: Settings, mr: MergeRequest, record: dict[str, Any]) -> dict[str, Any]:
    """Merge the pull request, bound to the pushed commit (GitHub answers 409 once its head moved),
    when its approvals and checks allow; a merged one counts as landed."""
    secret = forges.token(settings.token_env, settings.token_cmd, mr.repo)
    client = _client(settings.api_url, secret, settings.timeout)

    def merge() -> dict[str, Any]:
        repo = client.get_repo(settings.repo)
        pr = repo.get_pull(int(record["number"]))
        if pr.merged:
            return {"state": "merged", "commit": pr.merge_commit_sha or mr.commit}
        if pr.head.sha != mr.commit:
            said = f"is at {pr.head.sha[:12]}, not the {mr.commit[:12]} shipyard pushed"
            raise StepError(f"branch {mr.branch} {said}; someone changed it: land it by hand")
        approved = sum(review.state == "APPROVED" for review in pr.get_reviews())
        if approved < settings.approvals:
            return {"state": "waiting", "why": f"{approved} of {settings.approvals} approvals"}
        checks = _checks(repo, mr.commit)
        if checks == "pending":
            return {"state": "waiting", "why": "its checks are still running"}
        if checks == "failure":
            raise StepError(f"its checks failed on {mr.commit[:12]}")
        merged = pr.merge(sha=mr.commit, merge_method=settings.merge_method)
        return {"state": "merged", "commit": merged.sha or mr.commit}

    return _call(merge, f"{mr.repo}: github {settings.api_url}", settings, secret)


def _checks(repo: Any, sha: str) -> str:
    """One word for a commit's checks: commit statuses and check runs (Actions) together."""
    commit = repo.get_commit(sha)
    combined = commit.get_combined_status()
    words = [s.state for s in combined.statuses] if combined.total_count else []
    for run in commit.get_check_runs():
        words.append("pending" if run.status != "completed" else run.conclusion or "pending")
    return _verdict(words)


def read_issue(url: str, token: str) -> dict[str, Any]:
    """An issue from its web address; the API base follows the host (github.com or Enterprise)."""
    parts = urlsplit(url)
    path = parts.path.strip("/").split("/")
    if len(path) != 4 or path[2] != "issues" or not path[3].isdigit():
        raise StepError(f"{url}: not a GitHub issue address (https://github.com/OWNER/NAME/issues/N)")
    full_name, number = f"{path[0]}/{path[1]}", int(path[3])
    host = parts.netloc.lower()
    api = f"{parts.scheme}://{host}/api/v3"  # GitHub Enterprise
    if host in ("github.com", "www.github.com"):
        api = "https://api.github.com"
    client = _client(api, token, 30)

    def read() -> dict[str, Any]:
        issue = client.get_repo(full_name).get_issue(number)
        return {"title": issue.title, "body": issue.body or "", "labels": [lb.name for lb in issue.labels],
                "url": issue.html_url, "number": issue.number, "repo": full_name,
                "updated_at": issue.updated_at.isoformat() if issue.updated_at else None}  # fmt: skip

    return _call(read, f"{url}: github {api}", Settings(kind="github", repo=full_name, api_url=api), token)


def _client(api_url: str, token: str, timeout: int) -> Github:
    """No retries of PyGithub's own (`forges.retry` repeats the whole find-or-create instead) and no
    pacing: a fresh client makes a handful of requests, and a 403/429 rate limit is retried anyway.
    Lazy: objects are fetched when read, which saves a request for the repo and the commit."""
    return Github(auth=Auth.Token(token), base_url=api_url, timeout=timeout, retry=None, lazy=True,
                  seconds_between_requests=None, seconds_between_writes=None)  # fmt: skip


def _transient(err: Exception) -> bool:
    if isinstance(err, GithubException):
        return err.status == 429 or err.status >= 500 or isinstance(err, RateLimitExceededException)
    return isinstance(err, (requests.exceptions.Timeout, requests.exceptions.ConnectionError))


def _call(call: Callable[[], T], where: str, settings: Settings, secret: str) -> T:
    """`call` retried on 429/5xx/timeouts; what still fails becomes one line, without the token."""
    try:
        return forges.retry(call, _transient, settings.retries, settings.backoff)
    except GithubException as err:
        source = "token_cmd gives" if settings.token_cmd else f"${settings.token_env} holds"
        limited = isinstance(err, RateLimitExceededException)
        hints = {401: f"check that {source} a valid token",
                 403: "rate limited, try again later" if limited else "check the token's scopes",
                 404: "check that the repo exists and the token can see it"}  # fmt: skip
        line = f"{where} answered {err.status} for {settings.repo}: {hints.get(err.status) or _message(err)}"
    except requests.exceptions.RequestException as err:
        line = f"{where} did not answer for {settings.repo}: {type(err).__name__}"
    raise StepError(" ".join(line.replace(secret, "[token]").split()))


def _message(err: GithubException) -> str:
    data = err.data if isinstance(err.data, dict) else {}
    details = [e.get("message") or e.get("code", "") for e in data.get("errors", []) if isinstance(e, dict)]
    return "; ".join(str(m) for m in [err.message or data.get("message") or "error", *details] if m)


def _verdict(words: list[str]) -> str:
    if not words:
        return "none"
    if any(w not in PASSED and w != "pending" for w in words):
        return "failure"
    return "pending" if "pending" in words else "success"


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.forges import Forge
    from pipelines.forges import github as this

    _: Forge = this
