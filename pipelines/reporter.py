"""doit's console output: a line as each step ends, with its outcome and how long it ran (a
failure's own line under it), the steps still running kept live on a terminal, then a closing
table drawn for the terminal's width: ticket, repo, state, patch, gates, cost."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from doit.exceptions import BaseFail, TaskFailed, UnmetDependency
from doit.reporter import ConsoleReporter
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from pipelines import pages, ship
from pipelines.files import write_json

if TYPE_CHECKING:
    from doit.task import Task

    from pipelines.config import Workspace

STEPS = ("ticket", "plan", "prompt", "patch", "gate", "mr", "ship", "land")  # the graph's basenames
UNLISTED = ("serve",)  # tasks that run until stopped: no line, no place among the running steps
WRITE_EVERY = 0.2  # seconds at least between writes of state/running.json
STYLES = {
    "ok": "green",
    "FAIL": "bold red",
    "ERROR": "bold red",
    "skip": "yellow",
    "!!": "yellow",
    "--": "dim",
}


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def line(mark: str, name: str, note: str | None = None, styled: bool = False) -> Text:
    """`ok    patch:T-1/lib  3.2s`: the mark in a column of its own, so that task names line up."""
    text = Text(f"{mark:<6}", style=STYLES.get(mark, "dim") if styled else "")
    text.append(name)
    if note:
        text.append(f"  {note}", style="dim" if styled else "")
    return text


class ShipReporter(ConsoleReporter):
    desc = "a line per step as it ends, with its outcome and duration, then one row per planned repo"
    workspace: Workspace | None = None  # None: no closing table, no report.md to point at

    @classmethod
    def bound(cls, workspace: Workspace | None) -> type[ShipReporter]:
        """The reporter class for DOIT_CONFIG, reporting on `workspace` (doit makes the instance)."""
        bound = type(cls.__name__, (cls,), {"workspace": workspace})
        return cast("type[ShipReporter]", bound)

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.tickets: list[str] = []  # in the order the run reached them
        self.failed: set[str] = set()  # tickets with a failed task: their ship step did not run
        self.started: dict[str, float] = {}  # the tasks running, in the order they started
        self.lock = threading.Lock()  # doit starts tasks in its worker threads and ends them in its own
        self.console: Console | None = None
        self.live: Live | None = None
        self.spinners: dict[str, Spinner] = {}  # the live lines, Live's own thread's
        self.writing = threading.Lock()  # one write of running.json at a time, the newest last
        self.written: float | None = None  # when running.json was last written (monotonic)
        self.pending: threading.Timer | None = None  # the write put off to WRITE_EVERY's end
        self.done = False
        if _is_terminal(outstream):
            self.console = Console(file=outstream, force_terminal=True, highlight=False)
            self.live = Live(
                console=self.console,
                get_renderable=self._running,
                transient=True,
                # another stream's lines would tear the live ones: stderr goes above them too, when
                # it is a terminal (written to a file, it stays there)
                redirect_stderr=_is_terminal(sys.stderr),
            )

    def write(self, text: str) -> None:
        with contextlib.suppress(BrokenPipeError):  # `doit ship | head`: the reader has gone; the run goes on
            self.outstream.write(text)

    def _seen(self, task: Task) -> str | None:
        """The ticket a task of the ship graph belongs to, noted in run order."""
        step, _, rest = task.name.partition(":")
        ticket = rest.split("/")[0]
        if step not in STEPS or not ticket:
            return None
        with self.lock:
            if ticket not in self.tickets:
                self.tickets.append(ticket)
        return ticket

    def _print(self, text: Text) -> None:
        if self.console is not None:  # above the live lines
            self.console.print(text, soft_wrap=True)
        else:
            with self.lock:
                self.write(f"{text.plain}\n")

    def _ended(self, task: Task) -> str | None:
        """How long the task ran, if it started."""
        with self.lock:
            start = self.started.pop(task.name, None)
        if start is None:
            return None
        self._note_running()
        return duration(time.monotonic() - start)

    def _note_running(self) -> None:
        """Write state/running.json for `doit serve`'s pages: now, or WRITE_EVERY after the last
        write (a thousand steps starting at once make a few writes, not a thousand)."""
        if self.workspace is None:
            return
        with self.lock:
            wait = 0.0 if self.written is None else self.written + WRITE_EVERY - time.monotonic()
            if wait > 0:
                if self.pending is None:
                    self.pending = threading.Timer(wait, self._write_running)
                    self.pending.daemon = True
                    self.pending.start()
                return
        self._write_running()

    def _write_running(self) -> None:
        with self.writing:
            with self.lock:
                self.pending, self.written = None, time.monotonic()
                names = list(self.started)
                if self.done or self.workspace is None:
                    return
                running = self.workspace.paths.running
            write_json(running, {"running": names})

    def _running(self) -> Group:
        """The live lines (Live's own thread asks for them): one per task running, with its time so far."""
        now = time.monotonic()
        with self.lock:
            running = list(self.started.items())
        for name in self.spinners.keys() - dict(running).keys():
            del self.spinners[name]
        for name, start in running:
            spinner = self.spinners.setdefault(name, Spinner("dots", style="cyan"))
            spinner.update(text=Text(f"    {name}  ").append(duration(now - start), style="dim"))
        return Group(*self.spinners.values())

    def initialize(self, tasks: Any, selected_tasks: Any) -> None:
        # here, before doit's threads swap sys.stdout and back to capture tasks' output: Live
        # replaces sys.stdout too and puts back, when it stops, the one it found
        if self.live is not None:
            self.live.start()

    def execute_task(self, task: Task) -> None:
        self._seen(task)
        if not task.actions or task.name.startswith("_") or task.name in UNLISTED:  # as doit's own
            return
        with self.lock:
            self.started[task.name] = time.monotonic()
        self._note_running()
        if self.live is None:
            self._print(line(".", task.title()))

    def add_success(self, task: Task) -> None:
        took = self._ended(task)
        if task.actions and not task.name.startswith("_"):
            self._print(line("ok", task.title(), took, styled=self.console is not None))

    def add_failure(self, task: Task, fail: BaseFail) -> None:
        took = self._ended(task)
        ticket = self._seen(task)
        if ticket:
            with self.lock:
                self.failed.add(ticket)
        if not fail.report:
            return
        self.failures.append({"task": task, "exception": fail})
        styled = self.console is not None
        if isinstance(fail, UnmetDependency):  # it never started
            needs = ", ".join(fail.message.split())  # the tasks that failed or were skipped
            self._print(line("skip", task.title(), f"needs {needs}", styled=styled))
            return
        self._print(line("FAIL" if isinstance(fail, TaskFailed) else "ERROR", task.title(), took, styled))
        if message := self._pointed(ticket, fail.get_msg().rstrip()):
            self._print(Text(message))  # from the line's start, as it names the ticket, repo and step

    def _pointed(self, ticket: str | None, message: str) -> str:
        """The failure's message, pointing at the ticket's report.md if the run leaves one."""
        ws = self.workspace
        if ws is None or ticket not in ws.tickets or not ws.paths.plan(ticket).exists():
            return message  # complete_run writes report.md from the plan: without one, none
        report = ws.paths.relative(ws.paths.report(ticket))
        if report in message:
            return message
        first, newline, rest = message.partition("\n")
        return f"{first} (see {report}){newline}{rest}"

    def skip_uptodate(self, task: Task) -> None:
        self._seen(task)
        if not task.name.startswith("_"):
            self._print(line("--", task.title(), styled=self.console is not None))

    def skip_ignore(self, task: Task) -> None:
        self._print(line("!!", task.title(), styled=self.console is not None))

    def complete_run(self) -> None:
        if self.live is not None:
            self.live.stop()
        self._end_running()
        self._captured_output()
        if self.runtime_errors:
            self.write("#" * 40 + "\nExecution aborted.\n" + "\n".join(self.runtime_errors) + "\n")
        self._closing_table()

    def _end_running(self) -> None:
        """No step runs now: running.json goes, if this run wrote it (a `doit serve` wrote none)."""
        with self.writing, self.lock:
            self.done = True
            if self.pending is not None:
                self.pending.cancel()
            if self.written is not None and self.workspace is not None:
                self.workspace.paths.running.unlink(missing_ok=True)

    def _captured_output(self) -> None:
        """What failed tasks wrote, as doit shows it (--failure-verbosity included), but none of it
        empty: each failure's own line is above."""
        for result in self.failures:
            task = result["task"]
            if not task.executed:
                continue
            streams = []
            if task.verbosity < 1 or self.failure_verbosity > 0:
                streams.append(("stderr", "".join(a.err for a in task.actions if a.err)))
            if task.verbosity < 2 or self.failure_verbosity == 2:
                streams.append(("stdout", "".join(a.out for a in task.actions if a.out)))
            for stream, text in streams:
                if text.strip():
                    self.write(f"{'#' * 40}\n{task.name} <{stream}>:\n{text.rstrip()}\n")

    def _closing_table(self) -> None:
        ws = self.workspace
        if ws is None:
            return
        tickets: list[tuple[str, str, list[tuple[str, ...]]]] = []
        for ticket in self.tickets:
            if ticket not in ws.tickets:
                continue
            if ticket in self.failed and ws.paths.plan(ticket).exists():
                pages.redraw(ws, ticket)
            summary = ship.summarize(ws, ticket)
            rows: list[tuple[str, ...]] = [
                (
                    ticket,
                    r["repo"],
                    r["state_cell"],
                    ship.patch_cell(r),
                    ship.gates_cell(r),
                    ship.cost_cell(r["cost_usd"]),
                )
                for r in summary
            ]
            spent = ship.cost(ws, ticket)
            # the ticket's total, where it says more than its one row: several repos, or a planner
            if spent > 0 and (len(summary) > 1 or spent - sum(r["cost_usd"] for r in summary) > 1e-6):
                rows.append((ticket, "total", "", "", "", ship.cost_cell(spent)))
            branch = next((r["mr"]["branch"] for r in summary if r["mr"].get("branch")), "")
            tickets.append((ticket, branch, rows))
        if tickets:
            self.write(table(tickets, terminal_width(self.outstream), styled=self.console is not None))


COLUMNS = ("ticket", "repo", "state", "patch", "gates", "cost")
BIG = 100  # rows past which the table is a count per state and the rows that need you (a table of
# a thousand rows takes rich a second to lay out, and no one reads it: report.md has them all)


def table(tickets: Sequence[tuple[str, str, list[tuple[str, ...]]]], width: int, styled: bool = False) -> str:
    """The closing table, drawn for `width` columns: each ticket's branch named once above it, long
    cells folded inside their column."""
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=styled, highlight=False, no_color=not styled)
    for ticket, branch, _ in tickets:
        if branch:
            console.print(Text(f"{ticket}: branch {branch}"), soft_wrap=True)
    rows = [row for _, _, found in tickets for row in found]
    if len(rows) > BIG:
        rows = [row for row in rows if row[1] != "total"]
        needy = [row for row in rows if row[2].split(":")[0] not in QUIET]
        console.print(_counts(rows, bool(needy)), soft_wrap=True)
        if not needy:
            return out.getvalue()
        rows = needy[:BIG]
    grid = Table(title="shipyard", title_justify="left", box=box.HEAVY_HEAD, expand=False)
    for column in COLUMNS:
        grid.add_column(column, overflow="fold", no_wrap=column in ("ticket", "cost"))
    for row in rows:
        grid.add_row(*map(Text, row))  # as they are: a `[gates]` in a cell is no markup
    console.print(grid)
    return out.getvalue()


QUIET = ("open", "no change", "landed", "ready", "planned")  # states that need no one, in a big table


def _counts(rows: Sequence[tuple[str, ...]], needy: bool) -> Text:
    counted = Counter(row[2].split(":")[0] for row in rows)
    said = ", ".join(f"{n} {state}" for state, n in counted.most_common())
    more = " Those that need you:" if needy else ""
    return Text(f"{len(rows)} repos: {said}; each one is in state/ID/report.md.{more}")


def terminal_width(stream: Any) -> int:
    """The width to draw for: the terminal's, else COLUMNS, else 100."""
    if _is_terminal(stream):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            pass
    return shutil.get_terminal_size((100, 24)).columns


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
