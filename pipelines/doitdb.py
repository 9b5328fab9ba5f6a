"""doit's dependency database, committed task by task, and the one-run-per-state/ lock.

doit keeps its database in memory and writes it when the run ends, so after a `kill -9` every
task of that run would run again: agents re-invoked, branches pushed twice. This backend commits
each task's record the moment doit finishes saving it.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from doit.dependency import SqliteDB
from doit.exceptions import InvalidDodoFile
from filelock import FileLock, Timeout

from pipelines.files import write_atomic

# doit's Dependency.save_success() sets a task's keys one by one and `deps:` last.
LAST_KEY_OF_A_SAVE = "deps:"
# commands that only read: they look at a running ship from another terminal without its lock
# (`serve` is a task, run as `doit serve`: it reads state/ and writes nothing, doit's db included)
READ_ONLY = {"list", "info", "help", "dumpdb", "serve"}
_locks: list[FileLock] = []  # held until the process exits


class DurableSqliteDB(SqliteDB):
    desc = "sqlite3, committed per task, one run at a time (shipyard)"

    def __init__(self, name: str, codec, *, module_name: str | None = None) -> None:
        folder = Path(name).parent
        folder.mkdir(parents=True, exist_ok=True)
        command = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "run"
        if command not in READ_ONLY:
            hold(folder)
        super().__init__(name, codec)
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=normal")

    def set(self, task_id: str, dependency: str, value) -> None:
        super().set(task_id, dependency, value)
        if dependency in (LAST_KEY_OF_A_SAVE, "ignore:"):
            self._commit(task_id)

    def _commit(self, task_id: str) -> None:
        self._conn.execute(
            "insert or replace into doit values (?,?)",
            (task_id, self.codec.encode(self._cache[task_id])),
        )
        self._conn.commit()
        self._dirty.discard(task_id)

    def remove(self, task_id: str) -> None:
        super().remove(task_id)
        self._conn.commit()

    def remove_all(self) -> None:
        super().remove_all()
        self._conn.commit()


def hold(state: Path) -> None:
    """Take `state/.lock` for this process, or stop at once naming the run that has it."""
    lock = FileLock(str(state / ".lock"), blocking=False)
    holder = state / ".lock.holder"
    try:
        lock.acquire()
    except Timeout:
        who = holder.read_text().strip() if holder.exists() else "another process"
        raise InvalidDodoFile(f"{state}/ is in use by {who}; wait for it to finish") from None
    _locks.append(lock)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    command = " ".join(["doit", *sys.argv[1:]])
    write_atomic(holder, f"pid {os.getpid()} ({command}, started {started})\n")
