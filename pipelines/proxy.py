"""The model proxy: a model agent's only way out of its sandbox, and where its key is added.

A model agent (Claude Code, Codex) runs with no network. For the run, shipyard serves this proxy
on the host, on a unix socket in a folder bound into the sandbox; inside, `bridge.py` relays
127.0.0.1:PORT to that socket, so the CLI talks plain HTTP to what looks like its API. The proxy
forwards only POSTs to the API's own paths (`Route.paths`), only to the configured base URL, and
puts the real credential on each request itself: inside the sandbox the agent holds a
placeholder, so nothing it can read is worth sending anywhere. Every request is recorded outside
the sandbox (`proxy.jsonl`: method, host, path, bytes each way, status, milliseconds), without
headers or bodies, so the key never reaches a file.

The same folder holds the guard's socket: the hook reports each refusal there and shipyard
appends it to `guard.jsonl`, which nothing inside the sandbox can write.

An eval replays recorded traffic through the same proxy: `answer` replies instead of the API
(or forwards, and records what came back).
"""

from __future__ import annotations

import json
import select
import shutil
import socketserver
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BRIDGE = Path(__file__).with_name("bridge.py")
PORT = 47100  # where the bridge listens inside the sandbox's own network namespace: always free
PLACEHOLDER = "shipyard-placeholder-key"  # the only key an agent ever holds
MODEL_SOCKET, GUARD_SOCKET = "model.sock", "guard.sock"
# what the agent's request may carry on to the API: not its (placeholder) credential, nor hop-by-hop
DROPPED = {"host", "connection", "keep-alive", "content-length", "transfer-encoding", "x-api-key",
           "authorization", "proxy-authorization", "proxy-connection", "accept-encoding", "te",
           "upgrade"}  # fmt: skip
PASSED_BACK = (
    "content-type",
    "request-id",
    "x-request-id",
    "retry-after",
    "anthropic-ratelimit-requests-remaining",
)
TIMEOUT = 600.0  # seconds an API answer may take to start


@dataclass(frozen=True)
class Route:
    """Where a model agent's traffic may go, and the credential the proxy adds on the way."""

    upstream: str  # the API's base URL: https://api.anthropic.com, https://api.openai.com/v1...
    paths: tuple[str, ...]  # the API paths the agent may POST to, below its base URL
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # the credential
    prefix: str = ""  # what the agent's base URL adds to the proxy's address (Codex's `/v1`)

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.upstream).netloc


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    chunks: Iterable[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)
    fatal: str | None = None  # why no request of this run can succeed: the run ends at once


class Fatal:
    """Set once a request showed that no other can succeed (the API unreachable, the credential
    refused): whoever runs the agent ends it then, rather than let its CLI retry until it times out."""

    def __init__(self) -> None:
        self.why: str | None = None
        self.event = threading.Event()

    def set(self, why: str) -> None:
        self.why = self.why or why
        self.event.set()


Forward = Callable[[], Reply]  # the agent's request, on to the API with the real credential
Answer = Callable[[str, bytes, Forward], Reply]  # (API path, body, forward): what the agent gets


@dataclass(frozen=True)
class Door:
    """The proxy as a run sees it: the agent's base URL, what to bind, how to start the CLI."""

    url: str  # the API's base URL for the agent (inside the sandbox when there is one)
    folder: Path  # the sockets' folder: readable in the sandbox
    guard: Path  # where the guard hook reports a refusal
    sandboxed: bool
    fatal: Fatal  # set when the API cannot be reached or refuses the credential

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` started behind the bridge that carries 127.0.0.1:PORT to the proxy's socket."""
        if not self.sandboxed:
            return argv
        socket = str(self.folder / MODEL_SOCKET)
        return [sys.executable, "-I", "-S", str(BRIDGE), socket, str(PORT), "--", *argv]


@contextmanager
def serve(
    route: Route, log: Path, guard_log: Path | None, *, sandboxed: bool, answer: Answer | None = None
) -> Generator[Door]:
    """The proxy (and the guard's socket) for one agent run; gone when the run is."""
    folder = Path(tempfile.mkdtemp(prefix="shipyard-", dir=_short_tmp()))  # a socket path has 108 bytes
    log.parent.mkdir(parents=True, exist_ok=True)
    fatal = Fatal()
    handler = _handler(route, _Log(log), answer, fatal)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        if sandboxed:
            model = _UnixHTTPServer(str(folder / MODEL_SOCKET), handler)
            url = f"http://127.0.0.1:{PORT}{route.prefix}"
        else:  # no sandbox, no network namespace: the agent reaches the proxy on the host's loopback
            model = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            url = f"http://127.0.0.1:{model.server_address[1]}{route.prefix}"
        stack.enter_context(_running(model))
        guard = _UnixLineServer(str(folder / GUARD_SOCKET), _Log(guard_log) if guard_log else None)
        stack.enter_context(_running(guard))
        yield Door(url, folder, folder / GUARD_SOCKET, sandboxed, fatal)


def forward(route: Route, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
    """The agent's request sent on to the API, its credential replaced by the real one."""
    sent = {k: v for k, v in headers.items() if k.lower() not in DROPPED}
    sent.update(route.headers)
    url = route.upstream.rstrip("/") + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        answer = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        answer = err
    except (OSError, ValueError) as err:  # refused, unreachable, a bad URL: the CLI sees an API error
        why = f"the model API at {route.upstream} cannot be reached: {getattr(err, 'reason', err)}"
        return replace(error(502, why), fatal=why)
    back = {k: answer.headers[k] for k in PASSED_BACK if answer.headers.get(k)}
    status = answer.status or 502
    refused = (
        f"the model API at {route.upstream} refused the credential ({status})"
        if status in (401, 403)
        else None
    )
    return Reply(status, answer.headers.get("content-type", ""), _chunks(answer), back, fatal=refused)


def error(status: int, message: str) -> Reply:
    body = {"type": "error", "error": {"type": "api_error" if status >= 500 else "permission_error",
                                       "message": message}}  # fmt: skip
    return Reply(status, "application/json", [json.dumps(body).encode()])


def _chunks(answer: Any) -> Iterable[bytes]:
    with answer:
        while chunk := answer.read1(65536):
            yield chunk


class _Log:
    """Appends one JSON line at a time to a file outside the sandbox, whole, from any thread."""

    def __init__(self, path: Path) -> None:
        self.path, self._lock = path, threading.Lock()

    def write(self, line: str) -> None:
        with self._lock, open(self.path, "a") as f:
            f.write(line.rstrip("\n") + "\n")


def _handler(route: Route, log: _Log, answer: Answer | None, fatal: Fatal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve()

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

        def _serve(self) -> None:
            started = time.monotonic()
            parts = urllib.parse.urlsplit(self.path)
            body, headers = self._body(), dict(self.headers.items())
            path = parts.path.removeprefix(route.prefix) if parts.path.startswith(route.prefix) else ""
            if self.command != "POST" or path not in route.paths:
                reply = error(403, f"shipyard's model proxy passes only POST to {', '.join(route.paths)}")
            elif answer is not None:
                reply = answer(path, body, lambda: forward(route, path, parts.query, headers, body))
            else:
                reply = forward(route, path, parts.query, headers, body)
            if reply.fatal:
                fatal.set(reply.fatal)
            sent = self._reply(reply)
            ms = round((time.monotonic() - started) * 1000, 1)
            record = {"method": self.command, "host": route.host, "path": parts.path, "status": reply.status,
                      "bytes_in": len(body), "bytes_out": sent, "ms": ms}  # fmt: skip
            log.write(json.dumps(record))

        def _body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                data = b""
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    data += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return data
            return self.rfile.read(int(self.headers.get("content-length") or 0))

        def _reply(self, reply: Reply) -> int:
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type or "application/octet-stream")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("connection", "close")
            self.end_headers()
            sent = 0
            try:
                for chunk in reply.chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    sent += len(chunk)
            except OSError:  # the agent hung up (it was stopped): nothing more to send
                pass
            return sent

        def address_string(self) -> str:
            return "agent"

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(path, handler)

    def get_request(self) -> tuple[Any, Any]:
        conn, _ = super().get_request()
        return conn, ("agent", 0)  # BaseHTTPRequestHandler wants a (host, port)


class _UnixLineServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The guard's socket: each connection is one JSON line, appended to guard.jsonl."""

    block_on_close = True  # closing waits for the lines under way: none is lost

    def __init__(self, path: str, log: _Log | None) -> None:
        class Line(socketserver.StreamRequestHandler):
            timeout = 5.0  # a connection held open cannot hold up the end of the run

            def handle(self) -> None:
                try:
                    data = self.rfile.read(1 << 20).decode(errors="replace").strip()
                except OSError:
                    return
                if data and log is not None:
                    try:
                        json.loads(data)
                    except ValueError:  # not the hook's: kept, but as what it is
                        data = json.dumps({"tool": "?", "rule": "unreadable", "reason": data[:500]})
                    log.write(data)

        super().__init__(path, Line)

    def drain(self) -> None:
        """Take the reports still waiting to be accepted: a refusal just before the run ended too."""
        while select.select([self.socket], [], [], 0)[0]:
            self.handle_request()


@contextmanager
def _running(server: socketserver.BaseServer) -> Generator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        if isinstance(server, _UnixLineServer):
            server.drain()
        server.server_close()


def _short_tmp() -> str:
    """A folder whose paths are short enough for a unix socket, whatever TMPDIR says."""
    return "/tmp" if Path("/tmp").is_dir() else tempfile.gettempdir()
