"""`doit serve`: state/'s pages on 127.0.0.1, read-only, nothing outside state/, live by /events."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Workspace
from filelock import FileLock

from pipelines import serve
from pipelines.files import write_json
from pipelines.paths import Paths


@pytest.fixture
def state(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "state" / "T-1").mkdir(parents=True)
    (root / "repos.yaml").write_text("repos: {secret: 1}\n")
    (root / "state" / "index.html").write_text("<h1>index</h1>")
    (root / "state" / "T-1" / "report.html").write_text("<h1>T-1</h1>")
    (root / "state" / "T-1" / "patch.diff").write_text("+<script>alert(1)</script>\n")
    (root / "state" / "T-1" / "ship.json").write_text("{}\n")
    (root / "state" / ".doit.db").write_bytes(b"SQLite format 3\0")
    (root / "state" / ".lock").write_text("")
    (root / "state" / "T-1" / "out").symlink_to(root / "repos.yaml")
    (root / "state" / "T-1" / "in").symlink_to(root / "state" / "T-1" / "ship.json")
    return root / "state"


@pytest.fixture
def server(state: Path) -> Iterator[serve.Server]:
    running = serve.Server(Paths(state.parent), 0)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def get(
    server: serve.Server, path: str, method: str = "GET", host: str | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest(method, path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    return conn.getresponse()


def test_it_serves_the_index_at_the_root_and_files_under_state(server: serve.Server) -> None:
    index = get(server, "/")
    assert index.status == 200 and index.read() == b"<h1>index</h1>"
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    assert get(server, "/T-1/report.html").read() == b"<h1>T-1</h1>"
    assert get(server, "/T-1/in").read() == b"{}\n"  # a symlink that stays inside state/


def test_other_files_are_text_with_a_policy_that_runs_nothing(server: serve.Server) -> None:
    diff = get(server, "/T-1/patch.diff")
    assert diff.status == 200 and diff.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert diff.headers["Content-Security-Policy"] == "default-src 'none'"
    assert get(server, "/T-1/ship.json").headers["Content-Type"] == "application/json; charset=utf-8"
    head = get(server, "/T-1/patch.diff", method="HEAD")
    assert head.status == 200 and head.headers["Content-Length"] == "27" and head.read() == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../repos.yaml",
        "/%2e%2e/repos.yaml",
        "/T-1/%2E%2E/%2e%2e/repos.yaml",
        "/T-1/..%2f..%2frepos.yaml",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/etc/passwd",
        "/T-1/out",  # a symlink inside state/ pointing out
        "/.doit.db",
        "/.lock",
        "/T-1",
        "/T-1/missing.html",
        "/%ff",
        "/T-1/ship.json%00.html",
        "http://example.com/index.html",
    ],
)
def test_it_refuses_anything_that_is_not_a_file_inside_state(server: serve.Server, path: str) -> None:
    refused = get(server, path)
    assert refused.status == (421 if path.startswith("http:") else 404)  # that one names another host
    assert b"secret" not in refused.read()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"])
def test_it_changes_nothing_whatever_the_method(server: serve.Server, state: Path, method: str) -> None:
    refused = get(server, "/index.html", method=method)
    assert refused.status == 405 and refused.headers["Allow"] == "GET, HEAD"
    assert (state / "index.html").read_text() == "<h1>index</h1>"


def test_it_answers_only_for_its_own_name(server: serve.Server) -> None:
    assert get(server, "/", host=f"localhost:{server.port}").status == 200
    assert get(server, "/", host=f"evil.example:{server.port}").status == 421  # DNS rebinding


def test_it_listens_on_127_0_0_1_only(server: serve.Server) -> None:
    assert server.socket.getsockname()[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/"
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in addresses - {"127.0.0.1"}:
        with pytest.raises(OSError), socket.create_connection((address, server.port), timeout=2):
            pass


def events(server: serve.Server) -> Iterator[dict]:
    """The /events stream's events, each as it comes (the read times out if none does)."""
    response = get(server, "/events")
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    while line := response.fp.readline():
        if line.startswith(b"data: "):
            yield json.loads(line[6:])


def test_events_say_when_a_page_changes_and_which_steps_run(server: serve.Server, state: Path) -> None:
    stream = events(server)
    assert next(stream) == {"running": []}  # at once: nothing runs, no running.json yet
    write_json(state / "running.json", {"running": ["patch:T-1/lib", "gate:T-1/app/ruff"]})
    assert next(stream) == {"running": ["patch:T-1/lib", "gate:T-1/app/ruff"]}
    page = state / "T-1" / "report.html"
    page.write_text("<h1>T-1, again</h1>")
    later = page.stat().st_mtime_ns + 1_000_000_000
    os.utime(page, ns=(later, later))  # a file system's coarse clock still sees the change
    assert next(stream) == {"running": ["patch:T-1/lib", "gate:T-1/app/ruff"]}
    (state / "running.json").unlink()  # the run ended
    assert next(stream) == {"running": []}


def test_doit_serve_runs_beside_a_ship_holding_the_lock(workspace: Workspace) -> None:
    workspace.write("repos.yaml", "repos: {}\n")
    workspace.write("state/index.html", "<h1>index</h1>")
    with FileLock(str(workspace.state(".lock")), blocking=False):  # as a running `doit ship` holds it
        proc = workspace.popen("serve", "port=0")
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
            port = int(url.rsplit(":", 1)[1].rstrip("/"))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            assert conn.getresponse().read() == b"<h1>index</h1>"
        finally:
            proc.kill()
            proc.wait()
