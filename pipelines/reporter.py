"""doit's console output: a line as each step ends, with its outcome and how long it ran (a
failure's own line under it), the steps still running kept live on a terminal, then a closing
table: ticket, repo, patch, gates, merge request, cost."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from doit.exceptions import BaseFail, TaskFailed, UnmetDependency
from doit.reporter import ConsoleReporter
from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from pipelines import ship

if TYPE_CHECKING:
    from doit.task import Task

    from pipelines.config import Workspace

STEPS = ("ticket", "plan", "prompt", "patch", "gate", "mr", "ship", "land")  # the graph's basenames
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
        return None if start is None else duration(time.monotonic() - start)

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
        if not task.actions or task.name.startswith("_"):  # as doit's own reporter
            return
        with self.lock:
            self.started[task.name] = time.monotonic()
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
        self._captured_output()
        if self.runtime_errors:
            self.write("#" * 40 + "\nExecution aborted.\n" + "\n".join(self.runtime_errors) + "\n")
        self._closing_table()

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
        rows = []
        for ticket in self.tickets:
            if ticket not in ws.tickets:
                continue
            if ticket in self.failed and ws.paths.plan(ticket).exists():
                ship.write_report(ws, ticket)
            summary = ship.summarize(ws, ticket)
            for row in summary:
                cells = (ship.patch_cell(row), ship.gates_cell(row), ship.mr_cell(row))
                rows.append((ticket, row["repo"], *cells, ship.cost_cell(row["cost_usd"])))
            spent = ship.cost(ws, ticket)
            # the ticket's total, where it says more than its one row: several repos, or a planner
            if spent > 0 and (len(summary) > 1 or spent - sum(r["cost_usd"] for r in summary) > 1e-6):
                rows.append((ticket, "total", "", "", "", ship.cost_cell(spent)))
        if rows:
            columns = ("ticket", "repo", "patch", "gates", "merge request", "cost")
            self.write(boxed("shipyard", columns, rows))


def boxed(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table drawn in box characters, as rich draws one. By hand: rich takes a second to lay out
    a thousand rows, and a run of a thousand repos ends with one row each."""
    widths = [max(len(value) for value in column) for column in zip(columns, *rows, strict=True)]

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * (w + 2) for w in widths) + right + "\n"

    def cells(values: Sequence[str], bar: str) -> str:
        padded = (f" {value.ljust(width)} " for value, width in zip(values, widths, strict=True))
        return bar + bar.join(padded) + bar + "\n"

    return "".join(
        [
            f"{title}\n",
            rule("┏", "━", "┳", "┓"),
            cells(columns, "┃"),
            rule("┡", "━", "╇", "┩"),
            *(cells(row, "│") for row in rows),
            rule("└", "─", "┴", "┘"),
        ]
    )


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
