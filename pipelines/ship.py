"""The `ship:ID` step: what happened to every repo of a ticket, as ship.json and report.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines import envs, git, merge_requests, plan, spend, templates
from pipelines.change import Change, resolve
from pipelines.config import Workspace
from pipelines.files import read_json, write_atomic, write_json
from pipelines.forges import Record
from pipelines.gates import GateReport, count

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
            }
        )
    return rows


def make(workspace: Workspace, ticket_id: str) -> None:
    paths = workspace.paths
    rows = summarize(workspace, ticket_id)
    records = {r["repo"]: Record.model_validate(r["mr"]) for r in rows if r["mr"]}
    links = merge_requests.link(changes(workspace, ticket_id), records)
    write_json(
        paths.ship_json(ticket_id),
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
                }
                for r in rows
            ],
        },
    )
    write_report(workspace, ticket_id, rows)


def write_report(workspace: Workspace, ticket_id: str, rows: list[dict[str, Any]] | None = None) -> None:
    """report.md: what happened to each repo and why. Also written, by the closing reporter,
    for a ticket whose run stopped short of its ship step, so a failure is explained on disk."""
    rows = summarize(workspace, ticket_id) if rows is None else rows
    for r in rows:
        r.update(patch_cell=patch_cell(r), gates_cell=gates_cell(r), mr_cell=mr_cell(r))
        r.update(cost_cell=cost_cell(r["cost_usd"]))
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
