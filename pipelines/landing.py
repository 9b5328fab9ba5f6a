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

from pipelines import git, mirrors, plan
from pipelines.change import Change
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import read_json, write_json
from pipelines.forges import Record
from pipelines.gates import GateReport

LANDED = ("merged", "nothing to land")


def make(change: Change) -> None:
    paths, tid, repo = change.paths, change.ticket_id, change.repo
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
    if change.settings.forge.kind != "local":
        raise change.fail("land", f"landing through a {change.settings.forge.kind} forge is not built yet")
    spec, branch = change.settings.spec, record.branch or ""
    url = mirrors.url(paths, spec)
    mirror = mirrors.ensure(paths, repo, spec)
    default = change.entry.default_branch
    tip = git.remote_branch(mirror, url, default)
    commit = record.commit or ""
    if tip is not None and _contains(mirror, tip, commit):  # landed already (a rerun, or by hand)
        merged = tip
    else:
        head = git.remote_branch(mirror, url, branch)
        if head != commit:
            said = "is gone" if head is None else f"is at {head[:12]}, not the {commit[:12]} shipyard pushed"
            raise change.fail("land", f"branch {branch} {said}; someone changed it: land it by hand")
        if tip != change.base:
            raise change.fail(
                "land",
                f"{default} moved from the base {change.base[:12]} to {(tip or '')[:12]}: refresh the ticket",
            )
        git.push(mirror, url, commit, default, tip)  # a compare-and-swap: only if default is still at tip
        merged = commit
    if git.remote_branch(mirror, url, branch) is not None:
        git.delete_branch(mirror, url, branch, commit)
    write_json(target, {"ticket": tid, "repo": repo, "state": "merged", "commit": merged, "into": default})


def _check_gates(change: Change) -> None:
    paths, tid, repo = change.paths, change.ticket_id, change.repo
    patch = paths.patch(tid, repo).read_bytes()
    digest = hashlib.sha256(patch).hexdigest()
    for gate in change.settings.gates:
        report = GateReport.read(paths.gate_report(tid, repo, gate.name))
        if report.status != "pass":
            raise change.fail("land", f"gate {gate.name} did not pass: {report.status}")
        if report.patch_sha256 is not None and report.patch_sha256 != digest:
            raise change.fail("land", f"gate {gate.name} judged another patch")


def _contains(mirror: Path, tip: str, commit: str) -> bool:
    """Whether `commit` is on the branch whose tip is `tip` (fetched into the mirror first)."""
    if not commit:
        return False
    if tip == commit:
        return True
    try:
        git.git(mirror, "merge-base", "--is-ancestor", commit, tip, env=git.at(mirror))
    except StepError:
        return False
    return True


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
    mark_landed(paths.ticket_file(ticket_id))
    print(f"{ticket_id}: landed {', '.join(order)}")
