"""`doit diff:ID`: a ticket's whole change, each planned repo's patch.diff in plan order under a
line naming the repo and its base, or one line saying why the repo has none; and the same diff
folded into a fenced block for report.md."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import TYPE_CHECKING, TextIO

from pipelines import git, plan
from pipelines.gates import count

if TYPE_CHECKING:
    from pipelines.config import Workspace
    from pipelines.paths import Paths
    from pipelines.plan import Entry

# report.md shows a diff up to this size, then names the file holding the rest: a report is read
# in a browser or an editor, and a generated lockfile's ten thousand lines would bury the rest.
MAX_LINES = 200
MAX_BYTES = 16 * 1024


def text(workspace: Workspace, ticket_id: str) -> str:
    """The ticket's change across its repos, in plan order, as plain text."""
    planned = plan.load(workspace, ticket_id)
    if planned is None:
        return f"{ticket_id}: no plan yet; doit ship:{ticket_id} plans it\n"
    return "\n".join(_repo(workspace.paths, ticket_id, entry) for entry in planned.repos)


def _repo(paths: Paths, ticket_id: str, entry: Entry) -> str:
    """`=== lib (base 1a2b3c4d5e6f on main): +1 -1 in 1 file` and its diff, or why there is none."""
    head = f"=== {entry.name} (base {entry.base[:12]} on {entry.default_branch})"
    patch, failed = paths.patch(ticket_id, entry.name), failure(paths, ticket_id, entry.name)
    if not patch.exists():
        why = (
            f"the patch step failed: {failed}" if failed else f"not made yet; doit ship:{ticket_id} makes it"
        )
        return f"{head}: no diff: {why}\n"
    body = patch.read_bytes().decode(errors="replace")
    if not body:
        return f"{head}: no change\n"
    files, added, removed = git.numstat(body)
    body = body.rstrip("\n")
    # doit keeps a failed step's old target: say that this diff is not what the last run made
    stale = f"; an earlier patch: the patch step failed since: {failed}" if failed else ""
    return f"{head}: +{added} -{removed} in {count(files, 'file')}{stale}\n{body}\n"


def failure(paths: Paths, ticket_id: str, repo: str) -> str:
    """Why the repo's patch step failed last, in its one line ("" when it did not): the step's
    own record, without the `T-1/lib: patch: ` it starts with."""
    record = paths.step_error(ticket_id, repo, "patch")
    if not record.exists():
        return ""
    lines = record.read_text(errors="replace").strip().splitlines()
    return lines[0].removeprefix(f"{ticket_id}/{repo}: patch: ") if lines else ""


def folded(diff: str, link: str) -> str:
    """`diff` as a fenced markdown block, cut past MAX_LINES or MAX_BYTES with a line naming
    `link`, the file with all of it. The fence is longer than any run of backticks inside."""
    lines = diff.splitlines(keepends=True)
    shown, size = [], 0
    for line in lines[:MAX_LINES]:
        size += len(line.encode())
        if size > MAX_BYTES:
            break
        shown.append(line)
    body = "".join(shown).rstrip("\n")
    rest = len(lines) - len(shown)
    more = f"... {rest} more line{'' if rest == 1 else 's'} in [{link}]({link})" if rest else ""
    if not shown:  # one line past the size: nothing worth showing in a block
        return more
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
    return "\n".join([f"{fence}diff", body, fence, *([more] if more else [])])


def coloured(diff: str) -> str:
    """`diff` with a terminal's colours."""
    # imported here: every doit command loads this module, and only a diff on a terminal needs them
    from pygments import highlight
    from pygments.formatters.terminal import TerminalFormatter
    from pygments.lexers.diff import DiffLexer

    return highlight(diff, DiffLexer(), TerminalFormatter())


def show(workspace: Workspace, ticket_id: str, out: TextIO | None = None) -> None:
    """The `diff:ID` action: print the change, in colour when `out` is a terminal (and NO_COLOR
    is not set), plain when it is piped."""
    out = sys.stdout if out is None else out
    said = text(workspace, ticket_id)
    terminal = out.isatty() and not os.environ.get("NO_COLOR")
    with contextlib.suppress(BrokenPipeError):  # `doit diff:ID | head`: the reader has all it wanted
        out.write(coloured(said) if terminal else said)
        out.flush()
