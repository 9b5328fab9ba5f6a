"""`doit status`: each merge request's state and checks, read back from its forge."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from pipelines import git, mirrors, plugins, ship
from pipelines.change import Change
from pipelines.config import Workspace
from pipelines.files import write_json
from pipelines.forges import Record


def make(workspace: Workspace, ticket_id: str) -> None:
    """Write state/ID/status.json and print one table for the ticket."""
    ticket = workspace.tickets[ticket_id]
    rows: list[dict[str, Any]] = []
    for change in ship.changes(workspace, ticket_id):  # in plan order
        path = workspace.paths.mr_json(ticket_id, change.repo)
        if not path.exists():
            continue
        record = Record.read(path)
        row = {"repo": change.repo, "url": record.url, "branch": record.branch, "state": record.state,
               "checks": "none"}  # fmt: skip
        forge = change.settings.forge
        if moved := record.moved(forge.kind):
            row["checks"] = moved
        elif record.state == "open":
            row.update(plugins.forge(forge.kind).status(forge, record.model_dump()))
        row["base"] = _behind(workspace, change)
        rows.append(row)
    write_json(workspace.paths.ticket_dir(ticket_id) / "status.json", {"ticket": ticket_id, "repos": rows})
    table = Table(title=f"{ticket_id}: {ticket.title}", title_justify="left")
    for column in ("repo", "merge request", "branch", "state", "checks", "base"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = str(row["url"]), str(row["branch"] or "-"), row["state"], row["checks"], row["base"]
        table.add_row(row["repo"], *cells)
    Console(width=160).print(table)


def _behind(workspace: Workspace, change: Change) -> str:
    """Where the pinned base stands against the default branch's tip: `current`, or how far behind
    (`doit refresh:ID` moves the ticket there)."""
    tip = mirrors.tip(workspace.paths, change.repo, workspace.repos[change.repo])
    if tip == change.base:
        return "current"
    count = git.git(workspace.paths.mirror(change.repo), "rev-list", "--count", f"{change.base}..{tip}",
                    env=git.at(workspace.paths.mirror(change.repo)))  # fmt: skip
    return f"{count} behind {change.entry.default_branch}: doit refresh:{change.ticket_id}"
