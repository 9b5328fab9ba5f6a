"""What the model proxy costs one request: a client asking a local Messages-API stand-in directly,
through the proxy on the host's loopback (`sandbox: off`), and from inside a sandbox through the
bridge and the proxy's unix socket (how every model agent reaches its API).

    .venv/bin/python benchmarks/proxy.py [--requests 200]

Each request is a POST of a 50 KiB body (an agent turn's size) answered by a short event stream.
Prints the median and p90 per request of each route and the proxy's extra cost; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines import proxy, sandbox

EVENTS = b"".join(f"event: e\ndata: {json.dumps({'type': 'e', 'n': n})}\n\n".encode() for n in range(12))

CLIENT = """\
import json, statistics, sys, time, urllib.request
url, count = sys.argv[1], int(sys.argv[2])
body = b'{"x": "' + b"a" * 50000 + b'"}'
found = []
for _ in range(count + 5):
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        answer.read()
    found.append(time.perf_counter() - started)
print(json.dumps(found[5:]))
"""


class Answer(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self.wfile.write(EVENTS)

    def log_message(self, *args: object) -> None:
        pass


def measured(argv: list[str], box: sandbox.Box | None) -> list[float]:
    """The client's own timings (it runs where an agent would: on the host or in the sandbox)."""
    if box is None:
        out = subprocess.run(argv, capture_output=True, check=True).stdout
    else:
        code, out = sandbox.run(argv, box, {"PATH": "/usr/bin:/bin"}, timeout=600)
        if code != 0:
            raise SystemExit(out.decode())
    return json.loads(out.decode().strip().splitlines()[-1])


def line(name: str, values: list[float], base: float | None = None) -> str:
    median, p90 = statistics.median(values) * 1000, statistics.quantiles(values, n=10)[-1] * 1000
    extra = f"  (+{median - base:.2f} ms)" if base is not None else ""
    return f"{name:<46} {median:6.2f} ms  p90 {p90:6.2f} ms{extra}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per route")
    args = parser.parse_args(argv)
    api = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{api.server_address[1]}"
    route = proxy.Route(upstream, ("/v1/messages",), {"x-api-key": "bench"})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        client = root / "client.py"
        client.write_text(CLIENT)
        run = [sys.executable, str(client)]
        direct = measured([*run, f"{upstream}/v1/messages", str(args.requests)], None)
        with proxy.serve(route, root / "proxy.jsonl", None, sandboxed=False) as door:
            host = measured([*run, f"{door.url}/v1/messages", str(args.requests)], None)
        with proxy.serve(route, root / "proxy.jsonl", None, sandboxed=True) as door:
            box = sandbox.Box(cwd=root, readable=(door.folder,))
            inside = measured(door.wrap([*run, f"{door.url}/v1/messages", str(args.requests)]), box)
    api.shutdown()
    base = statistics.median(direct) * 1000
    print(f"{args.requests} requests each, 50 KiB up, a 12-event stream back")
    print(line("direct to the API (no proxy)", direct))
    print(line("through the proxy on 127.0.0.1 (sandbox: off)", host, base))
    print(line("from the sandbox: bridge + unix socket + proxy", inside, base))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
