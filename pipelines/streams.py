"""Running an agent CLI that speaks JSON lines: its stream saved as it comes, secrets blanked."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipelines import sandbox
from pipelines.sandbox import Box

REDACTED = "[redacted]"


def run_json_lines(
    argv: list[str],
    box: Box,
    env: Mapping[str, str],
    timeout: float,
    transcript: Path,
    secrets: Sequence[str] = (),
    stdin: Path | None = None,
    stop: threading.Event | None = None,
) -> tuple[int | None, list[dict], str]:
    """Run `argv` in the sandbox; (exit code or None on timeout, the JSON events, stderr's last line).

    Every stdout line goes to `<transcript>.partial` as it arrives (with `secrets` blanked), so a
    long run can be followed with `tail -f`; it becomes `transcript` once the run is over. `stop`,
    once set, ends the run.
    """
    transcript.parent.mkdir(parents=True, exist_ok=True)
    with open(stdin or os.devnull, "rb") as given:  # a prompt of any size: argv has a limit (E2BIG)
        proc = sandbox.spawn(argv, box, env, stdin=given, stderr=subprocess.PIPE, text=True)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        sandbox.kill(proc)

    timer = threading.Timer(timeout, expire)
    timer.start()
    done = threading.Event()
    if stop is not None:  # ended at once when it is set (the model proxy found the API unreachable)
        threading.Thread(target=_stop_when, args=(stop, done, proc), daemon=True).start()
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or ()), daemon=True)
    reader.start()
    events = []
    partial = transcript.with_name(transcript.name + ".partial")
    try:
        with open(partial, "w") as out:
            for line in proc.stdout or ():
                for secret in secrets:
                    line = line.replace(secret, REDACTED)
                out.write(line)
                out.flush()
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
        code = proc.wait()
    finally:
        done.set()
        timer.cancel()
        sandbox.ended(proc)
    os.replace(partial, transcript)
    reader.join(timeout=5)
    tail = next((s.strip() for s in reversed(stderr) if s.strip()), "")
    for secret in secrets:
        tail = tail.replace(secret, REDACTED)
    return (None if timed_out.is_set() else code), events, tail[:300]


def _stop_when(stop: threading.Event, done: threading.Event, proc: subprocess.Popen) -> None:
    while not done.wait(0.1):
        if stop.is_set():
            sandbox.kill(proc)
            return
