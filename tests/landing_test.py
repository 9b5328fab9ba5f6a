"""Landing a ticket on the local forge: in plan order, bound to the pushed commit, never twice."""

from __future__ import annotations

import json

from conftest import Workspace, commit_to, git
from tasks_test import setup


def shipped(ws: Workspace) -> str:
    setup(ws)
    run = ws.doit("ship")
    assert run.returncode == 0, run.out + run.err
    return json.loads(ws.state("T-1", "lib", "mr.json").read_text())["branch"]


def landed(ws: Workspace, repo: str) -> dict:
    return json.loads(ws.state("T-1", repo, "land.json").read_text())


def test_a_ticket_lands_in_order_once_and_says_so(workspace: Workspace) -> None:
    branch = shipped(workspace)
    run = workspace.doit("land:T-1/lib")  # a run stopped after the first merge
    assert run.returncode == 0, run.out + run.err
    lib = workspace.remotes / "lib.git"
    assert git(lib, "rev-parse", "main") == landed(workspace, "lib")["commit"]
    assert git(lib, "branch", "--list", branch) == ""  # the branch is gone
    workspace.state("T-1", "lib", "land.json").unlink()  # as if the kill came before the record
    run = workspace.doit("land:T-1")
    assert run.returncode == 0, run.out + run.err
    assert run.executed == ["land:T-1/lib", "land:T-1/app", "land:T-1"]  # lib first: app comes after it
    assert git(lib, "rev-list", "--count", "main") == "2"  # merged once, not twice
    app = workspace.remotes / "app.git"
    assert "new_api" in git(app, "show", "main:app/__init__.py")
    ticket = workspace.root.joinpath("tickets/T-1.md").read_text()
    assert "status: landed" in ticket and "title: Replace old_api with new_api" in ticket
    assert (
        not workspace.state("T-1", "lib", "work").exists()
        and workspace.state("T-1", "lib", "patch.diff").exists()
    )
    assert workspace.doit("ship").executed == []  # a landed ticket is not shipped again


def test_a_branch_someone_else_moved_does_not_land(workspace: Workspace) -> None:
    branch = shipped(workspace)
    lib = workspace.remotes / "lib.git"
    clone = workspace.remotes / "lib.other"
    git(workspace.remotes, "clone", "-q", "-b", branch, str(lib), clone.name)
    clone.joinpath("extra.txt").write_text("mine\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "someone else's commit")
    git(clone, "push", "-q", "origin", branch)
    run = workspace.doit("land:T-1")
    assert run.returncode != 0
    lines = [line.strip() for line in (run.out + run.err).splitlines() if "T-1/lib: land:" in line]
    assert (
        lines
        and lines[0].startswith(f"T-1/lib: land: branch {branch} is at ")
        and "someone changed it" in lines[0]
    )
    assert git(lib, "rev-list", "--count", "main") == "1"  # nothing merged
    assert "land:T-1/app" not in run.executed  # it comes after lib: it waits


def test_a_moved_base_does_not_land_and_says_to_refresh(workspace: Workspace) -> None:
    shipped(workspace)
    commit_to(workspace.remotes / "lib.git", {"NEWS.md": "upstream moved on\n"})
    run = workspace.doit("land:T-1/lib")
    assert run.returncode != 0
    assert (
        "T-1/lib: land: main moved from the base" in run.out + run.err
        and "refresh the ticket" in run.out + run.err
    )
