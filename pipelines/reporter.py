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

    def _seen(self, task: Any) -> None:
        from pipelines.tasks import BASENAMES  # doit makes reporters after loading dodo.py

        step, _, rest = task.name.partition(":")
        ticket = rest.split("/")[0]
        if step in BASENAMES and ticket and ticket not in self.tickets:
            self.tickets.append(ticket)

    def execute_task(self, task: Any) -> None:
        self._seen(task)
        super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        self._seen(task)
        super().skip_uptodate(task)

    def add_failure(self, task: Any, fail_info: Any) -> None:
        self._seen(task)
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
            for row in ship.summarize(WORKSPACE, ticket):
                cells = ship.patch_cell(row), ship.gates_cell(row), ship.mr_cell(row)
                table.add_row(ticket, row["repo"], *cells)
        if table.row_count:
            Console(file=self.outstream, width=160).print(table)
