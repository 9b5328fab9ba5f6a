"""GitLab, gitlab.com or self-hosted: push the branch, then find, create or update its merge request."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import gitlab
import requests
from pydantic import BaseModel, ConfigDict, Field

from pipelines import forges, git
from pipelines.errors import StepError
from pipelines.forges import MergeRequest

T = TypeVar("T")
DRAFT = "Draft: "
STATES = {"opened": "open", "locked": "open"}  # closed and merged keep their names
ONCE = {"obey_rate_limit": False}  # a 429 is retried by forges.retry, like a 5xx, not by python-gitlab
ISSUE = re.compile(r"^/(?P<repo>.+?)/(?:-/)?issues/(?P<iid>\d+)/?$")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["gitlab"]
    delete_branch: bool = True  # once it landed, the branch goes from the remote
    url: str = "https://gitlab.com"
    project: str  # "group/name", as in the project's URL
    token_env: str = "GITLAB_TOKEN"
    token_cmd: str | None = None
    labels: tuple[str, ...] = ()
    draft: bool = False
    timeout: int = 30  # seconds, per request
    retries: int = Field(default=4, ge=1)  # tries in all: again on a 429, a 5xx, a timeout, a lost link
    backoff: float = 0.5


def publish(settings: Settings, mr: MergeRequest) -> dict[str, Any]:
    git.push(mr.mirror, mr.remote, mr.commit, mr.branch, mr.remote_head)
    title = DRAFT + mr.title if settings.draft else mr.title
    token = forges.token(settings.token_env, settings.token_cmd, f"{mr.repo}: gitlab")

    def find_create_or_update(project: Any) -> Any:
        """Always looks first: a create whose answer was lost is found on the next try, not repeated."""
        listed = project.mergerequests.list(source_branch=mr.branch, state="opened", get_all=False, **ONCE)
        found = [m for m in listed if m.attributes.get("source_branch") == mr.branch]
        if not found:
            data = {"source_branch": mr.branch, "target_branch": mr.target_branch, "title": title,
                    "description": mr.body, "labels": list(settings.labels)}  # fmt: skip
            return project.mergerequests.create(data, **ONCE)
        current = found[0]
        wanted = {"title": title, "description": mr.body, "target_branch": mr.target_branch}
        for key, value in wanted.items():
            if current.attributes.get(key) != value:
                setattr(current, key, value)
        labels = list(current.attributes.get("labels") or [])
        if missing := [label for label in settings.labels if label not in labels]:
            current.labels = labels + missing  # the labels people added stay
        current.save(**ONCE)
        return current

    found = _call(settings, mr.repo, token, find_create_or_update)
    return {
        "forge": "gitlab",
        "url": found.web_url,
        "iid": found.iid,
        "state": _state(found.state),
        "head_sha": mr.commit,
        "branch": mr.branch,
        "draft": bool(found.attributes.get("draft", settings.draft)),
    }


def describe(settings: Settings, record: dict[str, Any], body: str) -> None:
    """Set the description of the merge request `record` names, unless it says that already."""
    repo = record.get("repo") or settings.project
    token = forges.token(settings.token_env, settings.token_cmd, f"{repo}: gitlab")

    def edit(project: Any) -> None:
        found = project.mergerequests.get(record["iid"], **ONCE)
        if found.attributes.get("description") != body:
            found.description = body
            found.save(**ONCE)

    _call(settings, repo, token, edit)


def land(settings: Settings, mr: MergeRequest, record: dict[str, Any]) -> dict[str, Any]:
    """Merge the merge request, bound to the pushed commit (GitLab answers 409 once its head moved),
    once its head pipeline passed; a merged one counts as landed."""
    repo = record.get("repo") or settings.project
    token = forges.token(settings.token_env, settings.token_cmd, f"{repo}: gitlab")

    def merge(project: Any) -> dict[str, Any]:
        found = project.mergerequests.get(record["iid"], **ONCE)
        if _state(found.state) == "merged":
            return {"state": "merged", "commit": found.attributes.get("merge_commit_sha") or mr.commit}
        head = found.attributes.get("sha")
        if head and head != mr.commit:
            said = f"is at {head[:12]}, not the {mr.commit[:12]} shipyard pushed"
            raise StepError(f"branch {mr.branch} {said}; someone changed it: land it by hand")
        left = found.approvals.get(**ONCE).attributes.get("approvals_left") or 0  # the project's own rules
        if left:
            return {"state": "waiting", "why": f"it needs {left} more approval{'s' if left > 1 else ''}"}
        pipeline = (found.attributes.get("head_pipeline") or {}).get("status")
        if pipeline in ("created", "pending", "running", "waiting_for_resource", "preparing"):
            return {"state": "waiting", "why": "its pipeline is still running"}
        if pipeline in ("failed", "canceled"):
            raise StepError(f"its pipeline {pipeline} on {mr.commit[:12]}")
        found.merge(sha=mr.commit, **ONCE)  # python-gitlab sends `sha` as a query parameter
        return {"state": "merged", "commit": found.attributes.get("merge_commit_sha") or mr.commit}

    return _call(settings, repo, token, merge)


def status(settings: Settings, record: dict[str, Any]) -> dict[str, Any]:
    """The merge request's state and the status of its head pipeline ("none" when it has none)."""
    repo = record.get("repo") or settings.project
    token = forges.token(settings.token_env, settings.token_cmd, f"{repo}: gitlab")
    found = _call(settings, repo, token, lambda project: project.mergerequests.get(record["iid"], **ONCE))
    pipeline = found.attributes.get("head_pipeline") or found.attributes.get("pipeline") or {}
    return {"state": _state(found.state), "checks": pipeline.get("status") or "none"}


def read_issue(url: str, token: str) -> dict[str, Any]:
    """The issue at `url` (https://HOST/GROUP/NAME/-/issues/N), read with `token`."""
    parts = urlsplit(url)
    match = ISSUE.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or not match:
        raise StepError(f"{url}: not a GitLab issue URL (expected https://HOST/GROUP/NAME/-/issues/N)")
    repo, iid = match["repo"], int(match["iid"])
    settings = Settings(kind="gitlab", url=f"{parts.scheme}://{parts.netloc}", project=repo)
    issue = _call(settings, f"{repo}#{iid}", token, lambda p: p.issues.get(iid, **ONCE), "your GitLab token")
    return {
        "title": issue.title,
        "body": issue.attributes.get("description") or "",
        "labels": list(issue.attributes.get("labels") or []),
        "url": issue.web_url,
        "number": issue.iid,
        "repo": repo,
        "updated_at": issue.attributes.get("updated_at"),
    }


def _call(settings: Settings, what: str, token: str, call: Callable[[Any], T], source: str = "") -> T:
    """`call(project)`, retried while GitLab fails in a passing way; other failures become one line."""
    with gitlab.Gitlab(settings.url, private_token=token, timeout=settings.timeout,
                       retry_transient_errors=False) as gl:  # fmt: skip
        project = gl.projects.get(settings.project, lazy=True)
        try:
            return forges.retry(lambda: call(project), _transient, max(1, settings.retries), settings.backoff)
        except (gitlab.exceptions.GitlabError, requests.RequestException) as err:
            where = f"{what}: gitlab {settings.url}"
            raise StepError(f"{where} {_failure(err, settings, token, source)}") from err


def _transient(err: Exception) -> bool:
    if isinstance(err, gitlab.exceptions.GitlabError):
        return err.response_code is not None and (err.response_code == 429 or err.response_code >= 500)
    return isinstance(
        err, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    )


def _failure(err: Exception, settings: Settings, token: str, source: str) -> str:
    """What went wrong, for a person: the status and a hint, never the token."""
    project, tries = settings.project, f"{settings.retries} tries of {settings.timeout}s"
    if isinstance(err, requests.Timeout):
        return f"did not answer for {project} ({tries})"
    if isinstance(err, requests.RequestException):
        return f"could not be reached for {project} ({tries}): {type(err).__name__}"
    assert isinstance(err, gitlab.exceptions.GitlabError)
    said = _one_line(str(err.error_message), token)
    if err.response_code is None:
        return f"failed for {project}: {said}"
    source = source or (
        f"token_cmd `{settings.token_cmd}`" if settings.token_cmd else f"${settings.token_env}"
    )
    hint = {
        401: f"check that {source} holds a valid token",
        403: "check the token's scopes (api)",
        404: "check that the project exists and the token can see it",
    }.get(err.response_code, said or "no message")
    return f"answered {err.response_code} for {project}: {hint}"


def _one_line(text: str, token: str) -> str:
    text = " ".join(text.split())
    return (text.replace(token, "***") if token else text)[:200]


def _state(state: str) -> str:
    return STATES.get(state, state)


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.forges import Forge
    from pipelines.forges import gitlab as this

    _: Forge = this
