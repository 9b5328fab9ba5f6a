"""`doit serve`: state/'s pages over http on 127.0.0.1, live while a ship runs.

Read-only by construction: GET and HEAD of regular files inside state/ and nothing else, no lock
taken (a ship holds it meanwhile), and `/events` tells an open page when state/ changed and which
steps run now (state/running.json, written by the reporter), so the page fetches itself again.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from pipelines.errors import StepError
from pipelines.paths import Paths

HOST = "127.0.0.1"  # never 0.0.0.0: state/ holds diffs and transcripts of private repos
POLL = 0.3  # seconds between looks at state/ for an open /events stream
KEEPALIVE = 15.0  # seconds between comment lines, so a page gone away is noticed

TEXT = "text/plain; charset=utf-8"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    **dict.fromkeys((".jsonl", ".diff", ".patch", ".log", ".md", ".txt", ".yaml", ".toml"), TEXT),
}
UNKNOWN = "application/octet-stream"


def resolve(state: Path, url_path: str) -> Path | None:
    """The file under `state` (a resolved folder) that `url_path` names, or None for anything
    else: a path leading out (`..`, `%2e%2e`, a symlink pointing away), a dot-file (`.lock`,
    `.doit.db`, a write's `.tmp`), a folder, a socket."""
    path = unquote(url_path.split("?", 1)[0].split("#", 1)[0], errors="strict")
    if not path.startswith("/") or "\0" in path or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p]
    if path == "/":
        parts = ["index.html"]
    if not parts or any(p.startswith(".") for p in parts):
        return None
    found = Path(os.path.realpath(state.joinpath(*parts)))
    if not found.is_relative_to(state) or any(p.startswith(".") for p in found.relative_to(state).parts):
        return None
    try:
        return found if stat.S_ISREG(found.stat().st_mode) else None
    except OSError:
        return None


def changes(paths: Paths) -> tuple[int, bytes]:
    """What an open page watches: the newest of the pages' mtimes, and running.json's bytes."""
    pages = [paths.state / "index.html", *paths.state.glob("*/report.html")]
    newest = 0
    for page in pages:
        try:
            newest = max(newest, page.stat().st_mtime_ns)
        except OSError:
            continue  # gone between the glob and the look
    try:
        running = paths.running.read_bytes()
    except OSError:
        running = b""
    return newest, running


def running(raw: bytes) -> list[str]:
    """The task names running.json holds; none when it is absent or half-read."""
    try:
        names = json.loads(raw).get("running", []) if raw else []
    except (ValueError, AttributeError):
        return []
    return [n for n in names if isinstance(n, str)]


def events(paths: Paths, clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """The /events stream: an event at once, then one each time state/ changes, a comment line
    when nothing has for KEEPALIVE seconds."""
    seen: tuple[int, bytes] | None = None
    quiet_since = clock()
    while True:
        now = changes(paths)
        if now != seen:
            seen, quiet_since = now, clock()
            yield f"data: {json.dumps({'running': running(now[1])})}\n\n".encode()
        elif clock() - quiet_since >= KEEPALIVE:
            quiet_since = clock()
            yield b": still here\n\n"
        time.sleep(POLL)


class Handler(BaseHTTPRequestHandler):
    server_version = "shipyard"
    sys_version = ""
    timeout = 30  # a client that opens a connection and says nothing is let go
    html = False  # whether the answer is one of state/'s pages (they carry their own CSP)

    @property
    def paths(self) -> Paths:
        return cast("Server", self.server).paths

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def __getattr__(self, name: str) -> Any:
        # every other method (POST, PUT, DELETE, ...): nothing here changes state/
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, body: bool) -> None:
        self.html = False
        if not self._host_is_ours():
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, "this server answers for 127.0.0.1 only")
            return
        if self.path.split("?", 1)[0] == "/events":
            self._events(body)
            return
        try:
            found = resolve(self.paths.state, self.path)
        except UnicodeDecodeError:
            found = None
        if found is None:
            self.send_error(HTTPStatus.NOT_FOUND, "not a file of state/")
            return
        data = found.read_bytes()
        kind = TYPES.get(found.suffix, UNKNOWN)
        self.html = kind.startswith("text/html")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _host_is_ours(self) -> bool:
        """Whether the request was for this server by its own name: a page elsewhere that points a
        name of its own at 127.0.0.1 (DNS rebinding) gets nothing."""
        host = self.headers.get("Host", "")
        port = cast("Server", self.server).port
        return host in (f"{HOST}:{port}", f"localhost:{port}")

    def _events(self, body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.end_headers()
        if not body:
            return
        try:
            for chunk in events(self.paths):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the page was closed

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        if not self.html:
            self.send_header("Content-Security-Policy", "default-src 'none'")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per page fetch would bury the terminal; refusals answer the client


class Server(ThreadingHTTPServer):
    daemon_threads = True  # open /events streams end with the server

    def __init__(self, paths: Paths, port: int) -> None:
        self.paths = Paths(Path(os.path.realpath(paths.root)))
        super().__init__((HOST, port), Handler)

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


def run(paths: Paths, port: int) -> None:
    """Serve `paths.state` on 127.0.0.1:`port` (0: any free one) until the process is stopped,
    the URL printed first."""
    if not paths.state.is_dir():
        raise StepError(f"serve: {paths.state} does not exist yet; doit ship makes it")
    try:
        server = Server(paths, port)
    except OSError as err:
        why = f"serve: cannot listen on {HOST}:{port} ({err.strerror}); choose another: doit serve port=N"
        raise StepError(why) from None
    print(server.url, flush=True)
    print("serving state/ read-only; Ctrl-C stops", file=sys.stderr, flush=True)
    with server:
        server.serve_forever()
