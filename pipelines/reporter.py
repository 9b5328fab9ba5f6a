"""doit's console output, with a closing table: ticket, repo, patch, gates, merge request."""

from __future__ import annotations

from doit.reporter import ConsoleReporter
from rich.console import Console
from rich.table import Table


class ShipReporter(ConsoleReporter):
    desc = "doit's console reporter, then one row per planned repo"

    def __init__(self, outstream, options) -> None:
        super().__init__(outstream, options)
        self.tickets: list[str] = []

    def _seen(self, task) -> None:
        ticket = task.name.partition(":")[2].split("/")[0]
        if (
            ticket
            and ticket not in self.tickets
            and task.name.split(":")[0]
            in {
                "ticket",
                "plan",
                "prompt",
                "patch",
                "gate",
                "mr",
                "ship",
            }
        ):
            self.tickets.append(ticket)

    def execute_task(self, task) -> None:
        self._seen(task)
        super().execute_task(task)

    def skip_uptodate(self, task) -> None:
        self._seen(task)
        super().skip_uptodate(task)

    def add_failure(self, task, fail_info) -> None:
        self._seen(task)
        super().add_failure(task, fail_info)

    def complete_run(self) -> None:
        super().complete_run()
        from pipelines import ship, tasks

        table = Table(title="shipyard", title_justify="left")
        for column in ("ticket", "repo", "patch", "gates", "merge request"):
            table.add_column(column, overflow="fold")
        for ticket in self.tickets:
            if ticket not in tasks.WORKSPACE.tickets:
                continue
            for row in ship.summarize(tasks.WORKSPACE, ticket):
                table.add_row(
                    ticket, row["repo"], ship.patch_cell(row), ship.gates_cell(row), ship.mr_cell(row)
                )
        if table.row_count:
            Console(file=self.outstream, width=160).print(table)
