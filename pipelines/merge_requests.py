"""The `mr:ID/REPO` step: commit the patch on its base, push the branch, record the merge request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    entry = next(r for r in plan.load(workspace, ticket_id) if r["name"] == repo)
    settings = workspace.settings(ticket, repo)
    patch = paths.patch(ticket_id, repo).read_bytes()
    if not patch:
        record = {"ticket": ticket_id, "repo": repo, "base": entry["base"], "state": "no-change"}
        write_json(paths.mr_json(ticket_id, repo), record)
        return
    reports = [read_json(paths.gate_report(ticket_id, repo, g.name)) for g in settings.gates]
    if blocked := [r["gate"] for r in reports if r["status"] != "pass"]:
        raise StepError(f"{ticket_id}/{repo}: mr: gates did not pass: {', '.join(blocked)}")
    branch = _branch(workspace, ticket, repo)
    mirror = base_mirror(workspace, repo, entry["base"])
    tree = git.tree_of(mirror, entry["base"], patch)
    remote_head = git.remote_branch(mirror, mirrors.url(workspace.paths, settings.spec), branch)
    sha = _reusable(mirror, remote_head, tree, entry["base"]) or git.commit(
        mirror, tree, entry["base"], f"{ticket.title}\n\nShipyard-Ticket: {ticket_id}\n"
    )
    _publish(workspace, ticket, entry, sha, remote_head, records={})


def link_siblings(workspace: Workspace, ticket_id: str) -> None:
    """Once every merge request of the ticket exists, each body links all the others."""
    ticket = workspace.tickets[ticket_id]
    planned = plan.load(workspace, ticket_id)
    records = {}
    for entry in planned:
        path = workspace.paths.mr_json(ticket_id, entry["name"])
        if path.exists():
            records[entry["name"]] = read_json(path)
    for entry in planned:
        record = records.get(entry["name"], {})
        if record.get("state") == "open" and record["body"] != _body(workspace, ticket, entry, records):
            _publish(workspace, ticket, entry, record["commit"], record["commit"], records)


Records = dict[str, dict[str, Any]]  # the mr.json of the ticket's repos, by repo, as far as known


def _publish(
    workspace: Workspace, ticket: Ticket, entry: dict[str, Any], sha: str, head: str | None, records: Records
) -> None:
    repo = entry["name"]
    settings = workspace.settings(ticket, repo)
    mr = MergeRequest(
        repo=repo,
        url=settings.spec.url,
        remote=mirrors.url(workspace.paths, settings.spec),
        mirror=workspace.paths.mirror(repo),
        branch=_branch(workspace, ticket, repo),
        remote_head=head,
        commit=sha,
        base=entry["base"],
        title=f"{ticket.title} ({ticket.id})",
        body=_body(workspace, ticket, entry, records),
        target_branch=entry["default_branch"],
    )
    try:
        published = plugins.load("forges", settings.forge.kind).publish(settings.forge, mr)
    except StepError as err:
        raise StepError(f"{ticket.id}/{repo}: mr: {err}") from None
    siblings = _siblings(workspace, ticket, repo, records)
    write_json(workspace.paths.mr_json(ticket.id, repo), {
        "ticket": ticket.id, "repo": repo, "base": entry["base"], **published, "branch": mr.branch,
        "commit": sha, "title": mr.title, "body": mr.body, "siblings": siblings,
    })  # fmt: skip


def _body(workspace: Workspace, ticket: Ticket, entry: dict[str, Any], records: Records) -> str:
    repo = entry["name"]
    settings = workspace.settings(ticket, repo)
    paths = workspace.paths
    return templates.render(
        TEMPLATE,
        ticket=ticket,
        reports=[read_json(paths.gate_report(ticket.id, repo, g.name)) for g in settings.gates],
        siblings=_siblings(workspace, ticket, repo, records),
        base=entry["base"],
        order=[r["name"] for r in plan.load(workspace, ticket.id)],
    )


def _siblings(workspace: Workspace, ticket: Ticket, repo: str, records: Records) -> list[dict[str, Any]]:
    """The ticket's other merge requests: their branch, and their URL once they exist."""
    siblings = []
    for entry in plan.load(workspace, ticket.id):
        other = entry["name"]
        record = records.get(other, {})
        if other == repo or record.get("state") == "no-change":
            continue
        siblings.append(
            {"repo": other, "branch": _branch(workspace, ticket, other), "url": record.get("url")}
        )
    return siblings


def _branch(workspace: Workspace, ticket: Ticket, repo: str) -> str:
    """The repo's branch for the ticket; once pushed it keeps its name, whatever the title becomes
    (a new name would leave the old branch, and with a forge a second merge request, behind)."""
    record = workspace.paths.mr_json(ticket.id, repo)
    if record.exists() and (pushed := read_json(record).get("branch")):
        return pushed
    return branch_name(workspace.settings(ticket, repo).branch_prefix, ticket.id, ticket.slug)


def _reusable(mirror: Path, current: str | None, tree: str, base: str) -> str | None:
    """The commit already on the remote branch, when it holds exactly this tree on this base."""
    if current is None or git.rev(mirror, current) is None:
        return None
    if git.git(mirror, "rev-parse", f"{current}^{{tree}}", env=git.at(mirror)) != tree:
        return None
    parents = git.git(mirror, "rev-list", "--parents", "-n", "1", current, env=git.at(mirror)).split()[1:]
    return current if parents == [base] else None
