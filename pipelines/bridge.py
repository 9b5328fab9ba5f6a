"""Inside a model agent's sandbox: 127.0.0.1:PORT carried to the model proxy's unix socket.

`python -I -S bridge.py SOCKET PORT -- COMMAND...` listens on the sandbox's own loopback (its
network namespace has nothing else), starts COMMAND (the agent's CLI) and relays every connection
to SOCKET, the proxy shipyard serves on the host; it exits with COMMAND's status. Standard
library only: it runs isolated, like the guard hook, so nothing in the worktree stands in for it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _relay(conn: socket.socket, path: str) -> None:
    with conn, socket.socket(socket.AF_UNIX) as proxy:
        try:
            proxy.connect(path)
        except OSError:
            return
        back = threading.Thread(target=_pipe, args=(proxy, conn), daemon=True)
        back.start()
        _pipe(conn, proxy)
        back.join()


def _serve(listener: socket.socket, path: str) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_relay, args=(conn, path), daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: bridge.py SOCKET PORT -- COMMAND...", file=sys.stderr)
        return 2
    path, port, command = argv[0], int(argv[1]), argv[3:]
    listener = socket.create_server(("127.0.0.1", port))
    threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    try:
        return subprocess.call(command)
    except OSError as err:
        print(f"shipyard bridge: cannot start {command[0]}: {err}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
