"""A local server speaking GitHub's REST API (v3, under /api/v3, as Enterprise serves it) as PyGithub
reads it, plus the two GraphQL draft mutations. State lives in memory; faults are scripted.

Like GitHub: issues and pull requests share numbers; a second open PR for the same head is refused
with 422; a head branch missing from the git remote is refused with 422.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_server import LocalServer

REPO = r"/api/v3/repos/(?P<repo>[^/]+/[^/]+)"
ROUTES = [  # (method, pattern, handler name)
    ("GET", REPO + r"$", "get_repo"),
    ("GET", REPO + r"/pulls$", "list_pulls"),
    ("POST", REPO + r"/pulls$", "create_pull"),
    ("GET", REPO + r"/pulls/(?P<n>\d+)$", "get_pull"),
    ("PATCH", REPO + r"/pulls/(?P<n>\d+)$", "edit_pull"),
    ("PUT", REPO + r"/pulls/(?P<n>\d+)/merge$", "merge_pull"),
    ("GET", REPO + r"/pulls/(?P<n>\d+)/reviews$", "list_reviews"),
    ("GET", REPO + r"/issues/(?P<n>\d+)$", "get_issue"),
    ("GET", REPO + r"/issues/(?P<n>\d+)/labels$", "get_labels"),
    ("POST", REPO + r"/issues/(?P<n>\d+)/labels$", "add_labels"),
    ("PUT", REPO + r"/issues/(?P<n>\d+)/labels$", "set_labels"),
    ("GET", REPO + r"/commits/(?P<sha>[^/]+)$", "get_commit"),
    ("GET", REPO + r"/commits/(?P<sha>[^/]+)/status$", "get_status"),
    ("GET", REPO + r"/commits/(?P<sha>[^/]+)/check-runs$", "get_check_runs"),
    ("POST", r"/api/graphql$", "graphql"),
]


class FakeGitHub(LocalServer):
    """`token` is the one token accepted; `remotes` maps "owner/name" to its bare git repo (for head shas)."""

    def __init__(self, token: str = "good-token", remotes: dict[str, Path] | None = None) -> None:
        self.token = token
        self.remotes = dict(remotes or {})
        self.items: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in self.remotes}
        self.statuses: dict[str, list[dict[str, str]]] = {}  # sha -> commit statuses
        self.reviews: dict[tuple[str, int], list[str]] = {}  # (repo, number) -> review states
        self.check_runs: dict[str, list[dict[str, Any]]] = {}  # sha -> check runs
        self.requests: list[dict[str, Any]] = []
        self.auth_seen: list[str] = []
        self.ignore_head_filter = False  # answer every open PR, as some servers do
        self._faults: list[dict[str, Any]] = []
        self._stall = 0.0
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.origin}/api/v3"

    @property
    def web(self) -> str:
        return f"{self.origin}"

    # --- scripting and inspecting -------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, method: str | None = None, path: str = "") -> None:
        """Answer `status` to the next `times` requests (of `method`, whose path holds `path`)."""
        self._faults.append({"status": status, "times": times, "method": method, "path": path})

    def stall_next_create(self, seconds: float) -> None:
        """The next POST /pulls creates the PR, then waits `seconds` before answering."""
        self._stall = seconds

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        """The PRs of `repo`, their head sha read from the remote's branch now, as GitHub follows it."""
        pulls = [item for item in self.items.get(repo, {}).values() if item["kind"] == "pull"]
        for item in pulls:
            self._follow(repo, item)
        return pulls

    def add_issue(self, repo: str, title: str, body: str, labels: tuple[str, ...] = ()) -> int:
        return self._add(repo, {"kind": "issue", "title": title, "body": body, "labels": list(labels)})

    def add_pull(self, repo: str, head: str, title: str, body: str, base: str = "main") -> int:
        item = {"kind": "pull", "title": title, "body": body, "head": head, "base": base, "draft": False}
        return self._add(repo, {**item, "sha": self._sha(repo, head) or "0" * 40, "labels": []})

    def merge(self, repo: str, number: int) -> None:
        self.items[repo][number].update(state="closed", merged=True)

    def seen(self, method: str, pattern: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and re.search(pattern, r["path"])]

    # --- the API ------------------------------------------------------------------------------------

    def get_repo(self, repo: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        owner, name = repo.split("/")
        return 200, {
            "id": 1,
            "node_id": "R_1",
            "name": name,
            "full_name": repo,
            "url": f"{self.url}/repos/{repo}",
            "html_url": f"{self.web}/{repo}",
            "default_branch": "main",
            "private": False,
            "owner": self._user(owner),
        }

    def list_pulls(self, repo: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        pulls = [p for p in self.pulls(repo) if query.get("state", "open") in ("all", p["state"])]
        if not self.ignore_head_filter and "head" in query:
            pulls = [p for p in pulls if f"{repo.split('/')[0]}:{p['head']}" == query["head"]]
        return 200, [self._pull(repo, p) for p in pulls]

    def create_pull(self, repo: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        head = body["head"].split(":")[-1]
        if any(p["head"] == head and p["state"] == "open" for p in self.pulls(repo)):
            return 422, _invalid(f"A pull request already exists for {repo.split('/')[0]}:{head}.")
        sha = self._sha(repo, head)
        if sha is None:
            return 422, _invalid("head: invalid")
        number = self._add(
            repo,
            {
                "kind": "pull",
                "title": body["title"],
                "body": body.get("body") or "",
                "head": head,
                "sha": sha,
                "base": body["base"],
                "draft": bool(body.get("draft")),
                "labels": [],
            },
        )
        return 201, self._pull(repo, self.items[repo][number])

    def get_pull(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        item = self.items.get(repo, {}).get(int(n))
        return (200, self._pull(repo, item)) if item and item["kind"] == "pull" else _missing()

    def edit_pull(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        item = self.items[repo][int(n)]
        item.update({k: v for k, v in body.items() if k in ("title", "body", "state", "base")})
        return 200, self._pull(repo, item)

    def merge_pull(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        """As GitHub: 409 when `sha` is not the head any more; the base branch moves to the head
        (a fast-forward, as with `merge_method: rebase` on a linear history)."""
        item = self.items[repo].get(int(n))
        if item is None or item.get("kind") != "pull":
            return _missing()
        self._follow(repo, item)
        if item["merged"] or item["state"] != "open":
            return 405, {"message": "Pull Request is not mergeable"}
        if body.get("sha") and body["sha"] != item["sha"]:
            return 409, {"message": "Head branch was modified. Review and try the merge again."}
        if repo in self.remotes:
            git = ["git", "update-ref", f"refs/heads/{item['base']}", item["sha"]]
            subprocess.run(git, cwd=self.remotes[repo], check=True)
        item.update(state="closed", merged=True)
        return 200, {"sha": item["sha"], "merged": True, "message": "Pull Request successfully merged"}

    def list_reviews(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        return 200, [{"id": i, "state": state, "user": self._user("reviewer")}
                     for i, state in enumerate(self.reviews.get((repo, int(n)), []), 1)]  # fmt: skip

    def get_issue(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        item = self.items.get(repo, {}).get(int(n))
        return (200, self._issue(repo, item)) if item else _missing()

    def get_labels(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        return 200, self._labels(repo, self.items[repo][int(n)])

    def add_labels(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        item = self.items[repo][int(n)]
        names = body["labels"] if isinstance(body, dict) else body
        item["labels"] += [name for name in names if name not in item["labels"]]
        return 200, self._labels(repo, item)

    def set_labels(self, repo: str, body: Any, query: dict[str, str], n: str) -> tuple[int, Any]:
        item = self.items[repo][int(n)]
        item["labels"] = list(dict.fromkeys(body["labels"] if isinstance(body, dict) else body))
        return 200, self._labels(repo, item)

    def get_commit(self, repo: str, body: Any, query: dict[str, str], sha: str) -> tuple[int, Any]:
        url = f"{self.url}/repos/{repo}/commits/{sha}"
        return 200, {
            "sha": sha,
            "url": url,
            "html_url": f"{self.web}/{repo}/commit/{sha}",
            "commit": {"message": "", "url": url},
            "files": [],
            "parents": [],
        }

    def get_status(self, repo: str, body: Any, query: dict[str, str], sha: str) -> tuple[int, Any]:
        statuses = self.statuses.get(sha, [])
        states = {s["state"] for s in statuses}
        state = next((s for s in ("error", "failure", "pending") if s in states), "success")
        return 200, {
            "state": state if statuses else "pending",
            "sha": sha,
            "total_count": len(statuses),
            "statuses": statuses,
            "url": f"{self.url}/repos/{repo}/commits/{sha}/status",
        }

    def get_check_runs(self, repo: str, body: Any, query: dict[str, str], sha: str) -> tuple[int, Any]:
        runs = self.check_runs.get(sha, [])
        return 200, {"total_count": len(runs), "check_runs": runs}

    def graphql(self, repo: None, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        node = body["variables"]["input"]["pullRequestId"]
        name = "convertPullRequestToDraft" if "convertPullRequestToDraft" in body["query"] else ""
        name = name or "markPullRequestReadyForReview"
        item = next(i for items in self.items.values() for i in items.values() if f"PR_{i['number']}" == node)
        item["draft"] = name == "convertPullRequestToDraft"
        return 200, {"data": {name: {"clientMutationId": None, "pullRequest": {"isDraft": item["draft"]}}}}

    # --- plumbing -----------------------------------------------------------------------------------

    def _add(self, repo: str, item: dict[str, Any]) -> int:
        items = self.items.setdefault(repo, {})
        number = max(items, default=0) + 1
        items[number] = {"number": number, "state": "open", "merged": False, "updated": time.time(), **item}
        return number

    def _sha(self, repo: str, branch: str) -> str | None:
        if repo not in self.remotes:
            return "0" * 40
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
            cwd=self.remotes[repo],
            capture_output=True,
            text=True,
        )
        return proc.stdout.strip() or None

    def _follow(self, repo: str, item: dict[str, Any]) -> None:
        if repo in self.remotes and item["state"] == "open":
            item["sha"] = self._sha(repo, item["head"]) or item["sha"]

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": 1, "type": "User", "url": f"{self.url}/users/{login}"}

    def _labels(self, repo: str, item: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": name, "color": "ededed", "url": f"{self.url}/repos/{repo}/labels/{name}"}
            for name in item["labels"]
        ]

    def _issue(self, repo: str, item: dict[str, Any]) -> dict[str, Any]:
        n, url = item["number"], f"{self.url}/repos/{repo}/issues/{item['number']}"
        kind = "pull" if item["kind"] == "pull" else "issues"
        updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item["updated"]))
        return {
            "id": n,
            "node_id": f"I_{n}",
            "number": n,
            "url": url,
            "html_url": f"{self.web}/{repo}/{kind}/{n}",
            "repository_url": f"{self.url}/repos/{repo}",
            "title": item["title"],
            "body": item["body"],
            "state": item["state"],
            "labels": self._labels(repo, item),
            "user": self._user("someone"),
            "created_at": updated,
            "updated_at": updated,
        }

    def _pull(self, repo: str, item: dict[str, Any]) -> dict[str, Any]:
        self._follow(repo, item)
        n, owner = item["number"], repo.split("/")[0]
        base = f"{self.url}/repos/{repo}"
        return {
            **self._issue(repo, item),
            "node_id": f"PR_{n}",
            "url": f"{base}/pulls/{n}",
            "issue_url": f"{base}/issues/{n}",
            "draft": item["draft"],
            "merged": item["merged"],
            "head": {"ref": item["head"], "sha": item["sha"], "label": f"{owner}:{item['head']}"},
            "base": {"ref": item["base"], "label": f"{owner}:{item['base']}"},
        }

    def _answer(self, method: str, target: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = json.loads(raw) if raw else None
        auth = headers.get("Authorization", "")
        status, data = self._route(method, path, query, body, auth)
        if (method, status) == ("POST", 201) and path.endswith("/pulls") and self._stall:
            stall, self._stall = self._stall, 0.0
            time.sleep(stall)  # created, but the answer comes after the client stopped waiting
        return status, data

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, auth: str) -> tuple[int, Any]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
            self.auth_seen.append(auth)
            if auth.split(" ", 1)[-1] != self.token or auth.split(" ")[0] not in ("token", "Bearer"):
                return 401, {
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                }
            for fault in self._faults:
                if fault["times"] and fault["method"] in (None, method) and fault["path"] in path:
                    fault["times"] -= 1
                    return fault["status"], {"message": f"scripted {fault['status']}"}
            for verb, pattern, name in ROUTES:
                if verb == method and (match := re.match(pattern, path)):
                    args = match.groupdict()
                    repo = args.pop("repo", None)
                    if repo is not None and repo not in self.items:
                        return _missing()
                    return getattr(self, name)(repo, body, query, *args.values())
        return _missing()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, data = fake._answer(self.command, self.path, self.headers, raw)
                payload = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json; charset=utf-8")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a scripted stall)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _invalid(message: str) -> dict[str, Any]:
    return {
        "message": "Validation Failed",
        "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
        "documentation_url": "https://docs.github.com/rest",
    }


def _missing() -> tuple[int, Any]:
    return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
