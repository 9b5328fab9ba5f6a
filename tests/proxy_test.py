"""The model proxy: only the API's paths, only to its base URL, the real key added on the way, every
request recorded without it; inside a sandbox, the bridge is the only way to reach it."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from fake_anthropic import FakeAnthropic

from pipelines import proxy, sandbox
from pipelines.guard import Refusal, record

KEY = "sk-ant-real-0123456789abcdef"
PATHS = ("/v1/messages",)


def post(url: str, body: dict, headers: dict | None = None, method: str = "POST") -> tuple[int, bytes]:
    data = json.dumps(body).encode() if method == "POST" else None
    sent = {"content-type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_key_is_added_on_the_way_and_only_the_apis_paths_pass(tmp_path: Path) -> None:
    log = tmp_path / "proxy.jsonl"
    with FakeAnthropic([]) as model:
        route = proxy.Route(model.url, PATHS, {"x-api-key": KEY})
        with proxy.serve(route, log, None, sandboxed=False) as door:
            status, body = post(f"{door.url}/v1/messages?beta=true", {"tools": [], "stream": True},
                                {"x-api-key": proxy.PLACEHOLDER})  # fmt: skip
            other, refused = post(f"{door.url}/v1/files", {"leak": "x"})
            got, _ = post(f"{door.url}/v1/messages", {}, method="GET")
    assert status == 200 and b"message_stop" in body
    assert [h["x-api-key"] for h in model.headers] == [KEY]  # the placeholder never reached the API
    assert other == 403 and b"passes only POST to /v1/messages" in refused
    records = [json.loads(line) for line in log.read_text().splitlines()]
    host = model.url.removeprefix("http://")
    assert [(r["method"], r["host"], r["path"], r["status"]) for r in records] == [
        ("POST", host, "/v1/messages", 200),
        ("POST", host, "/v1/files", 403),
        ("GET", host, "/v1/messages", 403),
    ]
    assert records[0]["bytes_in"] > 0 and records[0]["bytes_out"] == len(body)
    assert KEY not in log.read_text()
    assert got == 403


def test_an_api_that_cannot_be_reached_is_one_line_naming_it(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    route = proxy.Route(f"http://127.0.0.1:{port}", PATHS, {"x-api-key": KEY})
    with proxy.serve(route, tmp_path / "proxy.jsonl", None, sandboxed=False) as door:
        status, body = post(f"{door.url}/v1/messages", {})
    message = json.loads(body)["error"]["message"]
    assert (
        status == 502
        and f"the model API at http://127.0.0.1:{port} cannot be reached" in message
        and "\n" not in message
    )


BEHIND_THE_BRIDGE = """\
import json, socket, sys, urllib.request
listener = int(sys.argv[1])
said = {}
request = urllib.request.Request("http://127.0.0.1:%d/v1/messages" % int(sys.argv[2]),
                                 data=b'{"tools": []}', headers={"content-type": "application/json"})
said["proxy"] = urllib.request.urlopen(request, timeout=30).status
try:
    socket.create_connection(("127.0.0.1", listener), timeout=3)
    said["listener"] = "reached"
except OSError as err:
    said["listener"] = type(err).__name__
print(json.dumps(said))
"""


def test_inside_the_sandbox_the_bridge_reaches_the_proxy_and_nothing_else(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    (tmp_path / "work").mkdir()
    script = tmp_path / "work" / "probe.py"
    script.write_text(BEHIND_THE_BRIDGE)
    guard_log = tmp_path / "guard.jsonl"
    with FakeAnthropic([]) as model, listener:
        route = proxy.Route(model.url, PATHS, {"x-api-key": KEY})
        with proxy.serve(route, tmp_path / "proxy.jsonl", guard_log, sandboxed=True) as door:
            box = sandbox.Box(cwd=tmp_path / "work", readable=(door.folder,))
            argv = door.wrap([sys.executable, str(script), str(listener.getsockname()[1]), str(proxy.PORT)])
            code, out = sandbox.run(argv, box, {"PATH": "/usr/bin:/bin"}, timeout=60)
            record(door.guard, "Bash", {"command": "git push"}, Refusal("git-push", "no pushing"))
        try:
            listener.accept()
            reached = True
        except BlockingIOError:
            reached = False
    assert code == 0, out
    assert json.loads(out.decode().strip().splitlines()[-1]) == {
        "proxy": 200,
        "listener": "ConnectionRefusedError",
    }
    assert not reached and [h["x-api-key"] for h in model.headers] == [KEY]
    assert (
        json.loads(guard_log.read_text())["rule"] == "git-push"
    )  # reported over the socket, written outside
