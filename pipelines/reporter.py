"""doit's console output, with a closing table: ticket, repo, patch, gates, merge request."""

from __future__ import annotations

from typing import Any

from doit.reporter import ConsoleReporter
from rich.console import Console
from rich.table import Table

from pipelines import ship


class ShipReporter(ConsoleReporter):
    desc = "doit's console reporter, then one row per planned repo"

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.tickets: list[str] = []  # in the order the run reached them
        self.failed: set[str] = set()  # tickets with a failed task: their ship step did not run

    def _seen(self, task: Any) -> str | None:
        """The ticket a task of the ship graph belongs to, noted in run order."""
        from pipelines.tasks import BASENAMES  # doit makes reporters after loading dodo.py

        step, _, rest = task.name.partition(":")
        ticket = rest.split("/")[0]
        if step not in BASENAMES or not ticket:
            return None
        if ticket not in self.tickets:
            self.tickets.append(ticket)
        return ticket

    def execute_task(self, task: Any) -> None:
        self._seen(task)
        super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        self._seen(task)
        super().skip_uptodate(task)

    def add_failure(self, task: Any, fail_info: Any) -> None:
        if ticket := self._seen(task):
            self.failed.add(ticket)
        super().add_failure(task, fail_info)

    def complete_run(self) -> None:
        super().complete_run()
        from pipelines.tasks import WORKSPACE

        table = Table(title="shipyard", title_justify="left")
        for column in ("ticket", "repo", "patch", "gates", "merge request"):
            table.add_column(column, overflow="fold")
        for ticket in self.tickets:
            if ticket not in WORKSPACE.tickets:
                continue
            if ticket in self.failed and WORKSPACE.paths.plan(ticket).exists():
                ship.write_report(WORKSPACE, ticket)
            for row in ship.summarize(WORKSPACE, ticket):
                cells = ship.patch_cell(row), ship.gates_cell(row), ship.mr_cell(row)
                table.add_row(ticket, row["repo"], *cells)
        if table.row_count:
            Console(file=self.outstream, width=160).print(table)
