"""The `mr:ID/REPO` step: commit the patch on its base, push the branch, record the merge request.

The links between a ticket's merge requests are the ship step's: they need every sibling's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipelines import git, mirrors, plugins, templates
from pipelines.change import Change
from pipelines.errors import StepError
from pipelines.forges import MergeRequest, Record
from pipelines.gates import GateReport
from pipelines.worktrees import base_mirror

TEMPLATE = "mr.md.j2"
LINKS_TEMPLATE = "mr_links.md.j2"


def branch_name(prefix: str, ticket_id: str, slug: str) -> str:
    return f"{prefix}{ticket_id}-{slug}" if slug else f"{prefix}{ticket_id}"


def make(change: Change) -> None:
    paths, tid, repo = change.paths, change.ticket_id, change.repo
    patch = paths.patch(tid, repo).read_bytes()
    if not patch:
        Record(ticket=tid, repo=repo, base=change.base, state="no-change").write(paths.mr_json(tid, repo))
        return
    reports = [GateReport.read(paths.gate_report(tid, repo, g.name)) for g in change.settings.gates]
    if blocked := [r.gate for r in reports if r.status != "pass"]:
        raise change.fail("mr", f"gates did not pass: {', '.join(blocked)}")
    digest = hashlib.sha256(patch).hexdigest()
    for gate, report in zip(change.settings.gates, reports, strict=True):
        if gate.plugin == "review" and report.patch_sha256 != digest:
            read = (report.patch_sha256 or "none")[:12]
            why = f"the review is for another patch (sha256 {read}), not patch.diff ({digest[:12]})"
            raise change.fail("mr", f"gate {gate.name}: {why}; a verdict for another patch never counts")
    branch = branch_of(change)
    mirror = base_mirror(change.workspace, repo, change.base)
    remote = mirrors.url(paths, change.settings.spec)
    tree = git.tree_of(mirror, change.base, patch)
    remote_head = git.remote_branch(mirror, remote, branch)
    sha = _reusable(mirror, remote_head, tree, change.base) or git.commit(
        mirror, tree, change.base, f"{change.ticket.title}\n\nShipyard-Ticket: {tid}\n"
    )
    forge = change.settings.forge
    mr = MergeRequest(
        repo=repo,
        url=change.settings.spec.url,
        remote=remote,
        mirror=paths.mirror(repo),
        branch=branch,
        remote_head=remote_head,
        commit=sha,
        base=change.base,
        title=f"{change.ticket.title} ({tid})",
        body=templates.render(TEMPLATE, ticket=change.ticket, reports=reports, base=change.base),
        target_branch=change.entry.default_branch,
    )
    try:
        published = plugins.forge(forge.kind).publish(forge, mr)
    except StepError as err:
        raise change.fail("mr", str(err)) from None
    record = {**published, "branch": branch, "commit": sha, "title": mr.title, "body": mr.body,
              "patch_sha256": digest}  # fmt: skip
    Record(ticket=tid, repo=repo, base=change.base, **record).write(paths.mr_json(tid, repo))


def link(changes: list[Change], records: dict[str, Record]) -> list[dict[str, Any]]:
    """Once every merge request of the ticket exists, each body links all the others, in plan
    order; a forge is told only where its body is not that already. The links, for ship.json."""
    opened = {repo: record for repo, record in records.items() if record.state == "open"}
    links = [
        {"repo": c.repo, "branch": opened[c.repo].branch, "url": opened[c.repo].url}
        for c in changes
        if c.repo in opened
    ]
    if len(links) < 2:
        return links
    order = [c.repo for c in changes]
    for change in changes:
        record = opened.get(change.repo)
        if record is None or record.body is None:
            continue
        siblings = [sibling for sibling in links if sibling["repo"] != change.repo]
        checks, rule, footer = record.body.rpartition("\n---\n")
        links_text = templates.render(LINKS_TEMPLATE, siblings=siblings, order=order)
        body = f"{checks}\n{links_text}{rule}{footer}" if rule else record.body + links_text
        forge = change.settings.forge
        if record.moved(forge.kind):
            continue  # repos.yaml moved it to another forge: its mr step publishes it there first
        try:
            plugins.forge(forge.kind).describe(forge, record.model_dump(), body)
        except StepError as err:
            raise change.fail("ship", f"linking the merge requests: {err}") from None
    return links


def branch_of(change: Change) -> str:
    """The repo's branch for the ticket; once pushed it keeps its name, whatever the title becomes
    (a new name would leave the old branch, and with a forge a second merge request, behind)."""
    record = change.paths.mr_json(change.ticket_id, change.repo)
    if record.exists() and (pushed := Record.read(record).branch):
        return pushed
    prefix, tid = change.settings.branch_prefix, change.ticket_id
    name, cut = (branch_name(prefix, tid, slug) for slug in (change.ticket.slug, change.ticket.cut_slug))
    if cut != name:  # state/ was deleted: a branch pushed when slugs were cut mid-word keeps that name
        mirror = base_mirror(change.workspace, change.repo, change.base)
        remote = mirrors.url(change.paths, change.settings.spec)
        if git.remote_branch(mirror, remote, cut) and not git.remote_branch(mirror, remote, name):
            return cut
    return name


def _reusable(mirror: Path, current: str | None, tree: str, base: str) -> str | None:
    """The commit already on the remote branch, when it holds exactly this tree on this base."""
    if current is None or git.rev(mirror, current) is None:
        return None
    if git.git(mirror, "rev-parse", f"{current}^{{tree}}", env=git.at(mirror)) != tree:
        return None
    parents = git.git(mirror, "rev-list", "--parents", "-n", "1", current, env=git.at(mirror)).split()[1:]
    return current if parents == [base] else None
