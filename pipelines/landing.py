"""The `land:ID/REPO` step: merge a ticket's merge request, in plan order, bound to the commit
shipyard pushed; then the branch goes, and once every repo landed the ticket says so.

A repo lands only when every gate of it passed on the patch now on its branch, the branch's head
is the commit shipyard pushed (a commit someone added since stops it), and every repo it comes
`after` has landed. Rerun after any failure or kill, it never merges twice: a merge already on the
default branch counts as landed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pipelines import git, mirrors, pages, plan, plugins, states
from pipelines.change import Change
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import read_json, write_json
from pipelines.forges import MergeRequest, Record
from pipelines.gates import GateReport

LANDED = ("merged", "nothing to land")


def make(change: Change) -> None:
    paths, tid, repo = change.paths, change.ticket_id, change.repo
    if not paths.mr_json(tid, repo).exists():
        raise change.fail("land", f"no merge request yet ({_why_not(change)}): doit ship:{tid}")
    record = Record.read(paths.mr_json(tid, repo))
    target = paths.repo_dir(tid, repo) / "land.json"
    if record.state == "no-change":
        write_json(target, {"ticket": tid, "repo": repo, "state": "nothing to land"})
        return
    for earlier in change.entry.after:
        landed = paths.repo_dir(tid, earlier) / "land.json"
        if not landed.exists() or read_json(landed).get("state") not in LANDED:
            raise change.fail("land", f"waits for {earlier}, which it comes after, to land first")
    _check_gates(change)
    forge, spec = change.settings.forge, change.settings.spec
    mirror = mirrors.ensure(paths, repo, spec)
    mr = MergeRequest(
        repo=repo, url=spec.url, remote=mirrors.url(paths, spec), mirror=mirror, branch=record.branch or "",
        remote_head=None, commit=record.commit or "", base=change.base, title=record.title or "",
        body=record.body or "", target_branch=change.entry.default_branch,
    )  # fmt: skip
    if moved := record.moved(forge.kind):
        raise change.fail("land", moved)
    try:
        landed = plugins.forge(forge.kind).land(forge, mr, record.model_dump())
    except StepError as err:
        raise change.fail("land", str(err)) from None
    if landed["state"] != "merged":
        raise change.fail("land", f"waiting: {landed.get('why', 'not mergeable yet')}; land again later")
    if forge.delete_branch and git.remote_branch(mirror, mr.remote, mr.branch) == mr.commit:
        git.delete_branch(mirror, mr.remote, mr.branch, mr.commit)
    write_json(target, {"ticket": tid, "repo": repo, "state": "merged", "commit": landed["commit"],
                        "into": mr.target_branch})  # fmt: skip


def _check_gates(change: Change) -> None:
    paths, tid, repo = change.paths, change.ticket_id, change.repo
    patch = paths.patch(tid, repo).read_bytes()
    digest = hashlib.sha256(patch).hexdigest()
    for gate in change.settings.gates:
        if not paths.gate_report(tid, repo, gate.name).exists():
            raise change.fail("land", f"gate {gate.name} has not judged the patch yet: doit ship:{tid}")
        report = GateReport.read(paths.gate_report(tid, repo, gate.name))
        if report.status != "pass":
            raise change.fail("land", f"gate {gate.name} did not pass: {report.status}")
        if report.patch_sha256 is not None and report.patch_sha256 != digest:
            raise change.fail("land", f"gate {gate.name} judged another patch")


def _why_not(change: Change) -> str:
    """Why a repo has no merge request: its state, as every report says it."""
    gates = tuple(g.name for g in change.settings.gates)
    return str(states.of(change.paths, change.ticket_id, change.repo, gates))


def mark_landed(ticket_file: Path) -> None:
    """`status: landed` in the ticket's front matter: one line changed, the rest as the user wrote it."""
    text = ticket_file.read_text()
    head, sep, rest = text.partition("\n---")
    if re.search(r"(?m)^status:.*$", head):
        head = re.sub(r"(?m)^status:.*$", "status: landed", head, count=1)
    else:
        head += "\nstatus: landed"
    ticket_file.write_text(head + sep + rest)


def finish(workspace: Workspace, ticket_id: str) -> None:
    """Once every repo of the ticket landed: `status: landed` in its ticket, and its worktrees gone
    (the artifacts stay)."""
    paths = workspace.paths
    planned = plan.load(workspace, ticket_id)
    order = planned.order if planned else ()
    if waiting := [
        r for r in order if read_json(paths.repo_dir(ticket_id, r) / "land.json").get("state") not in LANDED
    ]:
        raise StepError(f"{ticket_id}: land: {', '.join(waiting)} not landed yet")
    for repo in order:
        for tree in (paths.work(ticket_id, repo), paths.verify(ticket_id, repo)):
            git.remove_tree(tree)
    pages.redraw(workspace, ticket_id)  # what landed where
    mark_landed(paths.ticket_file(ticket_id))
    print(f"{ticket_id}: landed {', '.join(order)}")
