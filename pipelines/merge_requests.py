"""The `mr:ID/REPO` step: commit the patch on its base, push the branch, record the merge request."""

from __future__ import annotations

from pathlib import Path

from pipelines import git, mirrors, plan, plugins, templates
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import read_json, write_json
from pipelines.forges import MergeRequest
from pipelines.tickets import Ticket
from pipelines.worktrees import base_mirror

TEMPLATE = "mr.md.j2"


def branch_name(prefix: str, ticket_id: str, slug: str) -> str:
    return f"{prefix}{ticket_id}-{slug}" if slug else f"{prefix}{ticket_id}"


def make(workspace: Workspace, ticket_id: str, repo: str) -> None:
    paths = workspace.paths
    ticket = workspace.tickets[ticket_id]
    planned = plan.load(workspace, ticket_id)
    entry = next(r for r in planned if r["name"] == repo)
    settings = workspace.settings(ticket, repo)
    record = {"ticket": ticket_id, "repo": repo, "base": entry["base"]}
    patch = paths.patch(ticket_id, repo).read_bytes()
    if not patch:
        write_json(paths.mr_json(ticket_id, repo), {**record, "state": "no-change"})
        return
    reports = [read_json(paths.gate_report(ticket_id, repo, g.name)) for g in settings.gates]
    if blocked := [r["gate"] for r in reports if r["status"] != "pass"]:
        raise StepError(f"{ticket_id}/{repo}: mr: gates did not pass: {', '.join(blocked)}")
    others = [r["name"] for r in planned if r["name"] != repo]
    siblings = [{"repo": other, "branch": _branch(workspace, ticket, other)} for other in others]
    branch = _branch(workspace, ticket, repo)
    mirror = base_mirror(workspace, repo, entry["base"])
    tree = git.tree_of(mirror, entry["base"], patch)
    remote_head = git.remote_branch(mirror, branch)
    sha = _reusable(mirror, remote_head, tree, entry["base"]) or git.commit(
        mirror, tree, entry["base"], f"{ticket.title}\n\nShipyard-Ticket: {ticket_id}\n"
    )
    body = templates.render(
        TEMPLATE,
        ticket=ticket,
        reports=reports,
        siblings=siblings,
        base=entry["base"],
        order=[r["name"] for r in planned],
    )
    mr = MergeRequest(
        repo=repo,
        url=settings.spec.url,
        remote=mirrors.url(paths, settings.spec),
        mirror=mirror,
        branch=branch,
        remote_head=remote_head,
        commit=sha,
        base=entry["base"],
        title=f"{ticket.title} ({ticket_id})",
        body=body,
        target_branch=entry["default_branch"],
    )
    published = plugins.load("forges", settings.forge.kind).publish(settings.forge, mr)
    write_json(
        paths.mr_json(ticket_id, repo),
        {
            **record,
            **published,
            "branch": branch,
            "commit": sha,
            "title": mr.title,
            "body": body,
            "siblings": siblings,
        },
    )


def _branch(workspace: Workspace, ticket: Ticket, repo: str) -> str:
    return branch_name(workspace.settings(ticket, repo).branch_prefix, ticket.id, ticket.slug)


def _reusable(mirror: Path, current: str | None, tree: str, base: str) -> str | None:
    """The commit already on the remote branch, when it holds exactly this tree on this base."""
    if current is None or git.rev(mirror, current) is None:
        return None
    if git.git(mirror, "rev-parse", f"{current}^{{tree}}") != tree:
        return None
    parents = git.git(mirror, "rev-list", "--parents", "-n", "1", current).split()[1:]
    return current if parents == [base] else None
