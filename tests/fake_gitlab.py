"""A local server speaking GitLab's REST API v4 as python-gitlab calls it, with its state in memory.

It serves projects, their merge requests and issues under /api/v4; it checks the PRIVATE-TOKEN
header, keeps every request it is sent, and can be told to fail: `fail_next(500, 2)` answers the next
two requests with a 500, `lose_next_create(seconds)` creates the next merge request but answers only
after `seconds` (longer than the client waits, so the client sees a timeout).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_server import LocalServer

DRAFT = ("Draft:", "[Draft]", "(Draft)")
TOKEN_HEADERS = ("PRIVATE-TOKEN", "Authorization", "JOB-TOKEN")


class FakeGitLab(LocalServer):
    def __init__(self, token: str = "glpat-test-token", projects: tuple[str, ...] = ("group/name",)) -> None:
        self.token = token
        self.requests: list[dict[str, Any]] = []
        self.projects = {path: {"id": n, "path_with_namespace": path} for n, path in enumerate(projects, 1)}
        self.merge_requests: dict[str, list[dict[str, Any]]] = {path: [] for path in projects}
        self.issues: dict[str, list[dict[str, Any]]] = {path: [] for path in projects}
        self._faults: list[tuple[int, str | None]] = []
        self._lose_create: float | None = None
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return self.origin

    # scripting

    def fail_next(self, status: int, times: int = 1, method: str | None = None) -> None:
        """Answer the next `times` requests (of `method`, when given) with `status`."""
        with self._lock:
            self._faults += [(status, method)] * times

    def lose_next_create(self, seconds: float) -> None:
        """Create the next merge request, but answer only after `seconds`."""
        self._lose_create = seconds

    def add_issue(self, project: str, title: str, description: str, labels: list[str]) -> dict[str, Any]:
        issues = self.issues[project]
        issue = {
            "id": 1000 + len(issues) + 1, "iid": len(issues) + 1, "project_id": self.projects[project]["id"],
            "title": title, "description": description, "labels": labels, "state": "opened",
            "web_url": f"{self.url}/{project}/-/issues/{len(issues) + 1}",
            "updated_at": "2026-01-02T03:04:05.000Z", "created_at": "2026-01-01T00:00:00.000Z",
        }  # fmt: skip
        issues.append(issue)
        return issue

    def set_merge_request(self, project: str, iid: int, **fields: Any) -> None:
        """Change a merge request as GitLab would (state, head_pipeline...)."""
        self.merge_requests[project][iid - 1].update(fields)

    def calls(self, method: str, suffix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"].endswith(suffix)]

    # the API

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.removeprefix("/api/v4/").split("/")
        if len(parts) < 2 or parts[0] != "projects":
            return 404, {"error": "404 Not Found"}
        project = self._project(parts[1])
        if project is None:
            return 404, {"message": "404 Project Not Found"}
        rest = parts[2:]
        if rest == []:
            return 200, {**self.projects[project], "web_url": f"{self.url}/{project}"}
        if rest == ["merge_requests"] and method == "GET":
            found = [m for m in self.merge_requests[project] if _matches(m, query)]
            return 200, found
        if rest == ["merge_requests"] and method == "POST":
            return self._create(project, body)
        if len(rest) == 3 and rest[0] == "merge_requests" and rest[2] == "approvals" and method == "GET":
            mr = next((m for m in self.merge_requests[project] if str(m["iid"]) == rest[1]), None)
            if mr is None:
                return 404, {"message": "404 Not found"}
            left = mr.get("approvals_left", 0)
            return 200, {"id": mr["id"], "iid": mr["iid"], "approved": left == 0, "approvals_left": left}
        if len(rest) == 3 and rest[0] == "merge_requests" and rest[2] == "merge" and method == "PUT":
            mr = next((m for m in self.merge_requests[project] if str(m["iid"]) == rest[1]), None)
            if mr is None or mr["state"] != "opened":
                return 405, {"message": "405 Method Not Allowed"}
            sha = (body or {}).get("sha") or query.get("sha")  # GitLab reads parameters from either
            if sha and mr.get("sha") and sha != mr["sha"]:
                return 409, {"message": "SHA does not match HEAD of source branch"}
            mr.update(state="merged", merge_commit_sha=mr.get("sha"))
            return 200, mr
        if len(rest) == 2 and rest[0] in ("merge_requests", "issues") and rest[1].isdigit():
            items = (self.merge_requests if rest[0] == "merge_requests" else self.issues)[project]
            iid = int(rest[1])
            if not 0 < iid <= len(items):
                return 404, {"message": "404 Not found"}
            if method == "PUT" and rest[0] == "merge_requests":
                _update(items[iid - 1], body)
            return 200, items[iid - 1]
        return 404, {"error": "404 Not Found"}

    def _project(self, ident: str) -> str | None:
        ident = unquote(ident)
        for path, project in self.projects.items():
            if ident in (path, str(project["id"])):
                return path
        return None

    def _create(self, project: str, body: dict[str, Any]) -> tuple[int, Any]:
        mrs = self.merge_requests[project]
        if missing := [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]:
            return 400, {"message": f"{missing[0]} is missing"}
        if any(m["state"] == "opened" and m["source_branch"] == body["source_branch"] for m in mrs):
            return 409, {"message": ["Another open merge request already exists for this source branch"]}
        iid = len(mrs) + 1
        mr = {
            "id": 500 + iid, "iid": iid, "project_id": self.projects[project]["id"], "state": "opened",
            "description": "", "labels": [], "sha": None, "head_pipeline": None, "merge_status": "checking",
            "source_branch": body["source_branch"], "target_branch": body["target_branch"],
            "web_url": f"{self.url}/{project}/-/merge_requests/{iid}",
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
        }  # fmt: skip
        _update(mr, body)
        mrs.append(mr)
        return 201, mr

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        tokens = {h: handler.headers[h] for h in TOKEN_HEADERS if handler.headers.get(h) is not None}
        path = split.path
        delay = 0.0
        with self._lock:
            self.requests.append({"method": method, "path": unquote(path), "query": query, "body": body,
                                  "tokens": tokens})  # fmt: skip
            fault = next((f for f in self._faults if f[1] in (None, method)), None)
            if tokens.get("PRIVATE-TOKEN") != self.token:
                status, answer = 401, {"message": "401 Unauthorized"}
            elif fault:
                self._faults.remove(fault)
                status, answer = fault[0], {"message": f"{fault[0]} scripted failure"}
            else:
                status, answer = self.handle(method, path, query, body)
                if method == "POST" and status == 201 and self._lose_create is not None:
                    delay, self._lose_create = self._lose_create, None
        time.sleep(delay)
        data = json.dumps(answer).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._answer(self, "GET")

            def do_POST(self) -> None:
                server._answer(self, "POST")

            def do_PUT(self) -> None:
                server._answer(self, "PUT")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _labels(value: Any) -> list[str]:
    if isinstance(value, str):
        return [label.strip() for label in value.split(",") if label.strip()]
    return list(value or [])


def _update(mr: dict[str, Any], body: dict[str, Any]) -> None:
    for key in ("title", "description", "target_branch"):
        if key in body:
            mr[key] = body[key]
    if "labels" in body:
        mr["labels"] = _labels(body["labels"])
    if "add_labels" in body:
        mr["labels"] += [label for label in _labels(body["add_labels"]) if label not in mr["labels"]]
    if body.get("state_event") in ("close", "reopen"):
        mr["state"] = "closed" if body["state_event"] == "close" else "opened"
    mr["draft"] = mr["work_in_progress"] = mr["title"].startswith(DRAFT)


def _matches(mr: dict[str, Any], query: dict[str, str]) -> bool:
    if query.get("state", "all") not in ("all", mr["state"]):
        return False
    return all(query[key] == mr[key] for key in ("source_branch", "target_branch") if key in query)
