"""The `ship:ID` step: what happened to every repo of a ticket, as ship.json and report.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines import diffs, envs, git, merge_requests, plan, spend, states, templates
from pipelines.change import Change, resolve
from pipelines.config import Workspace
from pipelines.files import read_json, write_atomic, write_json
from pipelines.forges import Record
from pipelines.gates import GateReport, count
from pipelines.paths import Paths

TEMPLATE = "report.md.j2"
SHOWN = {"gate", "status", "summary", "findings", "pre_existing"}  # of a gate report, in report.md


def changes(workspace: Workspace, ticket_id: str) -> list[Change]:
    """The ticket's planned changes, in plan order ([] before it has a plan)."""
    planned = plan.load(workspace, ticket_id)
    return [resolve(workspace, planned, repo) for repo in planned.order] if planned else []


def summarize(workspace: Workspace, ticket_id: str) -> list[dict[str, Any]]:
    """Where each planned repo of the ticket stands, from the artifacts that exist."""
    paths = workspace.paths
    rows = []
    for change in changes(workspace, ticket_id):
        repo, entry, settings = change.repo, change.entry, change.settings
        patch_file = paths.patch(ticket_id, repo)
        files, added, removed = (
            git.numstat(patch_file.read_text(errors="replace")) if patch_file.exists() else (0, 0, 0)
        )
        reports = [paths.gate_report(ticket_id, repo, g.name) for g in settings.gates]
        gates = [GateReport.read(report) for report in reports if report.exists()]
        mr_file = paths.mr_json(ticket_id, repo)
        rows.append(
            {
                "repo": repo,
                "sandbox": workspace.sandboxed(repo),
                "allowed_config": change.allowed_config,
                "base": entry.base,
                "reason": entry.reason,
                "patch": {"exists": patch_file.exists(), "files": files, "added": added, "removed": removed},
                "gates": [g.model_dump(mode="json", include=SHOWN) for g in gates],
                "mr": Record.read(mr_file).model_dump(mode="json", exclude_none=True)
                if mr_file.exists()
                else {},
                "env": _env(workspace, repo, gates),
                "no_env": settings.env == "none",
                "mr_error": _text(paths.step_error(ticket_id, repo, "mr")),
                "land": read_json(landed)
                if (landed := paths.repo_dir(ticket_id, repo) / "land.json").exists()
                else {},
                "cost_usd": round(spend.cost(paths.repo_dir(ticket_id, repo)), 6),  # every attempt's
                "held": paths.failed_run(ticket_id, repo).exists(),  # a failed agent run waits (retries.py)
                "state": str(
                    state := states.of(paths, ticket_id, repo, tuple(g.name for g in settings.gates))
                ),
                "state_cell": state.cell,
                "word": state.word,
                "short": state.short,
                "why": state.why,
            }
        )
    return rows


def make(workspace: Workspace, ticket_id: str) -> list[dict[str, Any]]:
    """The step (ship.json, report.md); the rows it wrote them from, for the pages."""
    rows = summarize(workspace, ticket_id)
    records = {r["repo"]: Record.model_validate(r["mr"]) for r in rows if r["mr"]}
    links = merge_requests.link(changes(workspace, ticket_id), records)
    write_ship_json(workspace, ticket_id, rows, links)
    return write_report(workspace, ticket_id, rows)


def write_ship_json(
    workspace: Workspace, ticket_id: str, rows: list[dict[str, Any]], links: list[dict[str, Any]]
) -> None:
    """ship.json: each repo's state and what it holds, and the merge requests' links."""
    write_json(
        workspace.paths.ship_json(ticket_id),
        {
            "ticket": ticket_id,
            "cost_usd": cost(workspace, ticket_id),
            "links": links,
            "repos": [
                {
                    "repo": r["repo"],
                    "base": r["base"],
                    "patch": r["patch"],
                    "gates": {g["gate"]: g["status"] for g in r["gates"]},
                    "mr": {k: r["mr"][k] for k in ("state", "branch", "commit", "url") if k in r["mr"]},
                    "cost_usd": r["cost_usd"],
                    "state": r["state"],
                }
                for r in rows
            ],
        },
    )


def write_report(
    workspace: Workspace, ticket_id: str, rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """report.md: what happened to each repo and why; the rows it was written from. Also written,
    by the closing reporter, for a ticket whose run stopped short of its ship step, so a failure
    is explained on disk (ship.json too, then), and by landing (see `pages.redraw`)."""
    outside = rows is None  # the closing reporter's call or landing's, not the ship:ID step's
    rows = summarize(workspace, ticket_id) if rows is None else rows
    for r in rows:
        r.update(patch_cell=patch_cell(r), gates_cell=gates_cell(r), mr_cell=mr_cell(r))
        r.update(cost_cell=cost_cell(r["cost_usd"]))
        r.update(shown(workspace.paths, ticket_id, r))
    ticket = workspace.tickets[ticket_id]
    write_atomic(
        workspace.paths.report(ticket_id),
        templates.render(
            TEMPLATE,
            ticket=ticket,
            repos=rows,
            cost=cost_cell(cost(workspace, ticket_id)),
            budget=workspace.budget(ticket),
            opened=sum(r["mr"].get("state") == "open" for r in rows),
            unchanged=sum(r["mr"].get("state") == "no-change" for r in rows),
        ),
    )
    if outside:  # the ship:ID step did not run: its ship.json says the states of now all the same
        shipped = workspace.paths.ship_json(ticket_id)
        links = read_json(shipped).get("links", []) if shipped.exists() else []
        write_ship_json(workspace, ticket_id, rows, links)
    return rows


def cost(workspace: Workspace, ticket_id: str) -> float:
    """What the ticket's agent runs cost in all, in USD: its repos' and its planner's."""
    return round(spend.spent(workspace.paths, ticket_id), 6)


def _record(mr_file: Path) -> dict[str, Any]:
    return Record.read(mr_file).model_dump(mode="json", exclude_none=True) if mr_file.exists() else {}


def _text(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _env(workspace: Workspace, repo: str, gates: list[GateReport]) -> dict[str, Any] | None:
    """The env the repo's gates ran in, as its build recorded it."""
    key = next((g.env for g in gates if g.env), None)
    return envs.built(workspace.paths.state, repo, key) if key else None


def patch_cell(row: dict[str, Any]) -> str:
    p = row["patch"]
    warning = ("" if row["sandbox"] else " (sandbox off!)") + (
        " (allow_config!)" if row.get("allowed_config") else ""
    )
    if not p["exists"]:
        return "not made" + warning
    made = "no change" if p["files"] == 0 else f"+{p['added']} -{p['removed']} in {count(p['files'], 'file')}"
    return made + warning


def gates_cell(row: dict[str, Any]) -> str:
    """`ruff, pytest: pass` when they agree, else `ruff pass, ty fail`."""
    said = {g["status"] for g in row["gates"]}
    if len(said) == 1 and len(row["gates"]) > 1:
        return f"{', '.join(g['gate'] for g in row['gates'])}: {said.pop()}"
    return ", ".join(f"{g['gate']} {g['status']}" for g in row["gates"]) or "-"


def cost_cell(usd: float) -> str:
    """`$0.42`, or `-` when nothing was spent (a command agent, or runs that reported no cost)."""
    if usd <= 0:
        return "-"
    return f"${usd:.2f}" if usd >= 0.01 else "<$0.01"


def mr_cell(row: dict[str, Any]) -> str:
    mr = row["mr"]
    if mr.get("state") == "no-change":
        return "none (no change)"
    return mr.get("branch", "not opened")


def shown(paths: Paths, ticket_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """What report.md says of a repo besides its summary: links to the artifacts that exist, why
    the patch step failed, the diff (folded past a size) and the next step."""
    repo = row["repo"]
    patch = paths.patch(ticket_id, repo)
    for g in row["gates"]:
        g.update(said=gate_said(g), log=paths.gate_log(ticket_id, repo, g["gate"]).exists())
    files = (paths.prompt, paths.patch, paths.agent_json, paths.transcript, paths.guard_log)
    made = [p for p in (f(ticket_id, repo) for f in files) if p.exists()]  # a failed step makes some not
    links = [p.relative_to(paths.ticket_dir(ticket_id)).as_posix() for p in made]
    said: dict[str, Any] = {
        "links": ", ".join(f"[{link}]({link})" for link in links) or "none yet",
        "patch_error": diffs.failure(paths, ticket_id, repo),
        "diff": diffs.folded(patch.read_bytes().decode(errors="replace"), f"{repo}/patch.diff")
        if patch.exists() and patch.stat().st_size
        else "",
    }
    said["next"] = next_step(ticket_id, {**row, **said})
    return said


def gate_said(gate: dict[str, Any]) -> str:
    """`fail, 2 new findings, 298 pre-existing (why)`: the gate's summary only where it says more
    than the counts (a baseline's summary is those very counts)."""
    counts = f"{count(len(gate['findings']), 'new finding')}, {len(gate['pre_existing'])} pre-existing"
    summary = gate["summary"]
    return f"{gate['status']}, {counts}" + (f" ({summary})" if summary and summary != counts else "")


def next_step(ticket_id: str, row: dict[str, Any]) -> str:
    """The one thing to do next for the repo, in the words of its state: report.md ends with it."""
    repo, state, mr = row["repo"], row.get("state", ""), row["mr"]
    name, ship = f"{ticket_id}/{repo}", f"`doit ship:{ticket_id}`"
    failed = ", ".join(g["gate"] for g in row["gates"] if g["status"] not in ("pass", "skipped"))
    if row["land"].get("state") == "merged":
        return "nothing: it has landed"
    if row["held"]:
        return f"`doit forget patch:{name}` to run the agent again"
    if row["patch_error"]:
        return f"fix what stopped the patch step (above) and {ship}"
    if not row["patch"]["exists"]:
        return f"{ship} to make the patch"
    if row["patch"]["files"] == 0:
        return f"nothing, unless {repo} should change: then say how in the ticket and {ship}"
    if failed:
        return f"fix what {failed} found and {ship} (`doit forget gate:{name}` runs its gates again as is)"
    if mr.get("state") == "open" and not state.startswith("outdated"):
        if state.startswith(("waiting", "failed at land")):
            return f"`doit land:{ticket_id}` again once that is resolved"
        return f"review the merge request at {mr.get('url') or mr['branch']}, then `doit land:{ticket_id}`"
    if row["mr_error"]:
        return f"fix what stopped the merge request (above) and {ship}"
    return f"{ship} to run the steps still to do"
