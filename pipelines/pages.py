"""state/index.html and state/ID/report.html: the workspace at a glance and each ticket's change,
self-contained (inline CSS and script, no URL to load) and escaped (a patch, a transcript, a
ticket's title are text there, never markup), from the artifacts that exist."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipelines import diffs, plan, ship, spend, states, templates
from pipelines.config import Workspace
from pipelines.evals import trajectory
from pipelines.files import read_json, write_atomic
from pipelines.paths import Paths

INDEX, REPORT = "index.html.j2", "report.html.j2"
SHARED = ("_head.html.j2", "_filters.html.j2", "pages.js", "pages.css")  # what both pages include
SCRIPT = templates.path("pages.js").read_text()  # inlined as is: the CSP names its sha256
STYLE = templates.path("pages.css").read_text()
FOLDED = 5000  # lines of a file's diff drawn past the fold; the rest is in patch.diff
CALLS = 300  # tool calls listed; the rest is in the transcript
TEXT = 240  # characters of a tool call's or a refusal's input shown


def index_path(paths: Paths) -> Path:
    return paths.state / "index.html"


def report_path(paths: Paths, ticket_id: str) -> Path:
    return paths.ticket_dir(ticket_id) / "report.html"


def csp(script: str = SCRIPT) -> str:
    """The Content-Security-Policy: nothing loads, inline styles, and only the page's own script."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; img-src data:; connect-src 'self'"
    )


def page(name: str, **values: Any) -> str:
    """A page of the shared head (the CSP, the style, the script) from template `name`."""
    return _page(name, **values)


def _page(name: str, **values: Any) -> str:
    return templates.render_html(
        name, csp=csp(), script=Markup(SCRIPT), style=Markup(STYLE + _diff_style()), **values
    )


def write_index(workspace: Workspace) -> None:
    write_atomic(index_path(workspace.paths), index(workspace))


def index(workspace: Workspace, drawn: datetime | None = None) -> str:
    """The matrix of every open ticket × its planned repos."""
    tickets = []
    for ticket in workspace.open_tickets():
        rows = ship.summarize(workspace, ticket.id)
        for row in rows:
            row["duration_s"] = _duration(workspace.paths.repo_dir(ticket.id, row["repo"]))
        report = report_path(workspace.paths, ticket.id)
        tickets.append({
            "id": ticket.id,
            "title": ticket.title,
            "rows": rows,
            "cost_usd": ship.cost(workspace, ticket.id),
            "budget": workspace.budget(ticket),
            "link": f"{ticket.id}/report.html" if report.exists() else "",
        })  # fmt: skip
    return draw_index(tickets, drawn or datetime.now(UTC))


def draw_index(tickets: Sequence[dict[str, Any]], drawn: datetime) -> str:
    """`tickets` (id, title, rows as ship.summarize gives them, cost_usd, budget, link) as index.html."""
    counts = {word: 0 for word in states.WORDS}
    for ticket in tickets:
        for row in ticket["rows"]:
            counts[row["word"]] += 1
            row["cost"] = ship.cost_cell(row["cost_usd"])
            row["took"] = _took(row.get("duration_s") or 0.0)
        ticket["cost"] = ship.cost_cell(ticket["cost_usd"])
    return _page(INDEX, tickets=tickets, counts=counts, drawn=drawn.isoformat(timespec="seconds"))


def redraw(workspace: Workspace, ticket_id: str) -> None:
    """report.md, ship.json and the pages of a ticket whose ship:ID step did not run (a run that
    stopped short of it, or landing), and the index, which no ship:index follows then."""
    write_report(workspace, ticket_id, ship.write_report(workspace, ticket_id))
    write_index(workspace)


def write_report(workspace: Workspace, ticket_id: str, rows: list[dict[str, Any]]) -> None:
    """report.html beside report.md, from the rows ship.write_report has filled (ship.shown)."""
    write_atomic(report_path(workspace.paths, ticket_id), report(workspace, ticket_id, rows))


def report(workspace: Workspace, ticket_id: str, rows: list[dict[str, Any]]) -> str:
    paths, ticket = workspace.paths, workspace.tickets[ticket_id]
    planned = plan.load(workspace, ticket_id)
    entries = {entry.name: entry for entry in planned.repos} if planned else {}
    repos = [_repo(paths, ticket_id, row, entries.get(row["repo"])) for row in rows]
    folder = paths.ticket_dir(ticket_id)
    names = ("ticket.json", "plan.json", "ship.json", "report.md")
    own = [name for name in names if (folder / name).exists()]
    own += [
        p.relative_to(folder).as_posix() for p in sorted(folder.glob("planner/attempts/*/*")) if p.is_file()
    ]
    return _page(
        REPORT,
        ticket=ticket,
        repos=repos,
        cost=ship.cost_cell(ship.cost(workspace, ticket_id)),
        budget=workspace.budget(ticket),
        planner=planned.planner if planned else "",
        artifacts=own,
    )


def _repo(paths: Paths, ticket_id: str, row: dict[str, Any], entry: plan.Entry | None) -> dict[str, Any]:
    """What the report page says of one repo besides what report.md says (`row`)."""
    repo = row["repo"]
    folder = paths.repo_dir(ticket_id, repo)
    patch = paths.patch(ticket_id, repo)
    text = patch.read_bytes().decode(errors="replace") if patch.exists() else ""
    findings = [dict(f, gate=g["gate"]) for g in row["gates"] for f in g["findings"]]
    calls = trajectory.read(paths.transcript(ticket_id, repo)).calls
    return {
        **row,
        "after": entry.after if entry else (),
        "instructions": entry.instructions if entry else "",
        "files": [_file(name, body, findings) for name, body in split(text)],
        "guard": _refusals(paths.guard_log(ticket_id, repo)),
        "agent": read_json(paths.agent_json(ticket_id, repo))
        if paths.agent_json(ticket_id, repo).exists()
        else {},
        "attempts": spend.attempts(folder),
        "calls": [{"tool": c.tool, "text": _cut(c.text)} for c in calls[:CALLS]],
        "more_calls": max(0, len(calls) - CALLS),
        "artifacts": artifacts(paths, ticket_id, repo),
    }


def split(diff: str) -> list[tuple[str, str]]:
    """`diff` file by file: each file's name (its new path) and its part of the diff."""
    parts: list[tuple[str, list[str]]] = []
    for line in diff.splitlines(keepends=True):
        if line.startswith("diff --git ") or not parts:
            name = line.rstrip("\n").rsplit(" b/", 1)[-1] if line.startswith("diff --git ") else "(diff)"
            parts.append((name, []))
        parts[-1][1].append(line)
    return [(name, "".join(lines)) for name, lines in parts]


def _file(name: str, body: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """One file's diff, highlighted: its first diffs.MAX_LINES lines, then up to FOLDED more
    behind a fold, and how many lines past those only patch.diff holds."""
    lines = body.splitlines(keepends=True)
    mine = [f for f in findings if f["file"] == name]
    at = _at_lines(lines, mine)
    shown, folded = lines[: diffs.MAX_LINES], lines[diffs.MAX_LINES : diffs.MAX_LINES + FOLDED]
    return {
        "name": name,
        "shown": _with_findings(shown, 0, at),
        "folded": _with_findings(folded, diffs.MAX_LINES, at) if folded else "",
        "folded_lines": len(folded),
        "rest": max(0, len(lines) - diffs.MAX_LINES - FOLDED),
        "findings": [f for f in findings if f["file"] == name],
    }


HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)")


def _at_lines(lines: Sequence[str], findings: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The findings by the index of the diff line that shows their line of the new file."""
    wanted: dict[int, list[dict[str, Any]]] = {}
    for finding in findings:
        if isinstance(finding.get("line"), int):
            wanted.setdefault(finding["line"], []).append(finding)
    found: dict[int, list[dict[str, Any]]] = {}
    new = None
    for index, line in enumerate(lines):
        if hunk := HUNK.match(line):
            new = int(hunk[1])
        elif new is not None and line[:1] in ("+", " "):
            if new in wanted:
                found[index] = wanted.pop(new)
            new += 1
    return found


def _with_findings(lines: Sequence[str], start: int, at: dict[int, list[dict[str, Any]]]) -> Markup:
    """`lines` highlighted, each finding drawn under the diff line it is at (DiffLexer's tokens are
    one line each, so the highlighted text splits back into the same lines)."""
    drawn = highlighted("".join(lines)).split("\n")
    out = []
    for offset, html in enumerate(drawn):
        out.append(html)
        for f in at.get(start + offset, []):
            note = f"▲ {f.get('gate', '')} {f.get('rule', '')}: {f.get('message', '')}"
            out.append(str(Markup('<span class="finding-at">{}</span>').format(note)))
    return Markup("\n".join(out))


def highlighted(diff: str) -> Markup:
    """`diff` as Pygments' escaped, classed HTML (the classes are styled by _diff_style)."""
    from pygments import highlight  # imported here: every doit command loads this module
    from pygments.formatters.html import HtmlFormatter
    from pygments.lexers.diff import DiffLexer

    return Markup(highlight(diff, DiffLexer(), HtmlFormatter(nowrap=True)))


@cache
def _diff_style() -> str:
    from pygments.formatters.html import HtmlFormatter

    return HtmlFormatter().get_style_defs("pre.diff")


def _refusals(log: Path) -> list[dict[str, str]]:
    """The guard's refusals, one per line of guard.jsonl (a line that is not JSON is shown as is)."""
    said = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = {"reason": line}
        shown = entry.get("input")
        said.append({
            "tool": str(entry.get("tool", "")),
            "rule": str(entry.get("rule", "")),
            "reason": str(entry.get("reason", "")),
            "input": _cut(shown if isinstance(shown, str) else json.dumps(shown, ensure_ascii=False)),
        })  # fmt: skip
    return said


def artifacts(paths: Paths, ticket_id: str, repo: str) -> list[str]:
    """The repo's raw files that exist, relative to the ticket's folder (never a worktree's)."""
    folder, top = paths.repo_dir(ticket_id, repo), paths.ticket_dir(ticket_id)
    names = ["prompt.md", "patch.diff", "agent.json", "transcript.jsonl", "guard.jsonl", "patch.failed"]
    names += ["patch.error", "mr.error", "land.error", "mr.json", "land.json"]
    found = [folder / name for name in names]
    for pattern in ("gates/*", "attempts/*/*", "rounds/*/*"):
        found += sorted(folder.glob(pattern))
    return [p.relative_to(top).as_posix() for p in found if p.is_file()]


def _duration(folder: Path) -> float:
    return sum(a.get("duration_s") or 0.0 for a in spend.attempts(folder))


def _took(seconds: float) -> str:
    if seconds <= 0:
        return ""
    if seconds < 1:
        return "<1 s"
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds // 60:.0f} min {seconds % 60:.0f} s"


def _cut(text: str) -> str:
    return text if len(text) <= TEXT else text[:TEXT] + "…"
