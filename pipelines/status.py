"""`doit status`: each merge request's state and checks, read back from its forge."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipelines import git, mirrors, plugins, reporter, ship, states
from pipelines.change import Change
from pipelines.config import Workspace
from pipelines.files import write_json
from pipelines.forges import Record


def make(workspace: Workspace, ticket_id: str) -> None:
    """Write state/ID/status.json and print one table for the ticket."""
    ticket = workspace.tickets[ticket_id]
    rows: list[dict[str, Any]] = []
    for change in ship.changes(workspace, ticket_id):  # in plan order: every planned repo
        gates = tuple(g.name for g in change.settings.gates)
        state = states.of(workspace.paths, ticket_id, change.repo, gates)
        row = {"repo": change.repo, "url": None, "branch": None, "state": state.cell, "checks": "-"}
        path = workspace.paths.mr_json(ticket_id, change.repo)
        record = Record.read(path) if path.exists() else None
        if record is not None and record.state == "open":
            row.update(url=record.url, branch=record.branch)
            forge = change.settings.forge
            if moved := record.moved(forge.kind):
                row["checks"] = moved
            else:
                said = plugins.forge(forge.kind).status(forge, record.model_dump())
                merged = said.pop("state", None) == "merged"  # by someone, on the forge
                row.update(said, state="landed (merged on the forge)" if merged else state.cell)
        row["base"] = _behind(workspace, change)
        rows.append(row)
    write_json(workspace.paths.ticket_dir(ticket_id) / "status.json", {"ticket": ticket_id, "repos": rows})
    if not rows:
        print(f"{ticket_id}: nothing planned yet: doit plan:{ticket_id}")
        return
    table = Table(title=f"{ticket_id}: {ticket.title}", title_justify="left")
    for column in ("repo", "state", "merge request", "checks", "base"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = row["repo"], row["state"], str(row["url"] or row["branch"] or "-"), row["checks"], row["base"]
        table.add_row(*map(Text, cells))  # as they are: a `[gates]` in a cell is no markup
    Console(width=reporter.terminal_width(sys.stdout), highlight=False).print(table)


def _behind(workspace: Workspace, change: Change) -> str:
    """Where the pinned base stands against the default branch's tip: `current`, or how far behind
    (`doit refresh:ID` moves the ticket there)."""
    tip = mirrors.tip(workspace.paths, change.repo, workspace.repos[change.repo], change.entry.default_branch)
    if tip == change.base:
        return "current"
    count = git.git(workspace.paths.mirror(change.repo), "rev-list", "--count", f"{change.base}..{tip}",
                    env=git.at(workspace.paths.mirror(change.repo)))  # fmt: skip
    return f"{count} behind {change.entry.default_branch}: doit refresh:{change.ticket_id}"
