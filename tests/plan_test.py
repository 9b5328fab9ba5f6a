"""plan.json records each repo's default branch as the plan found it; later steps read it there."""

from __future__ import annotations

import json

from conftest import Workspace, git
from mirrors_test import develop_remote

from pipelines import config, plan

TICKET = """---
id: T-1
title: Bump x
repos: [lib]
agent: {kind: command, run: "sed -i 's/x = 2/x = 3/' a.py"}
---
Bump `x`.
"""


def setup(ws: Workspace) -> tuple[str, str]:
    main, develop = develop_remote(ws.remotes / "lib.git")
    repos = f"defaults:\n  gates: [ruff]\n  env: none\nrepos:\n  lib: {{url: {ws.remotes / 'lib.git'}}}\n"
    ws.write("repos.yaml", repos)
    ws.write("tickets/T-1.md", TICKET)
    return main, develop


def entry(ws: Workspace) -> dict:
    return json.loads(ws.state("T-1", "plan.json").read_text())["repos"][0]


def test_the_plan_pins_the_branch_the_remotes_head_names_and_keeps_it(workspace: Workspace) -> None:
    main, develop = setup(workspace)
    plan.make(config.load(workspace.root), "T-1", repin=True)
    assert (entry(workspace)["default_branch"], entry(workspace)["base"]) == ("develop", develop)
    git(workspace.remotes / "lib.git", "symbolic-ref", "HEAD", "refs/heads/main")
    plan.make(config.load(workspace.root), "T-1", repin=False)  # a pinned base keeps its branch
    assert (entry(workspace)["default_branch"], entry(workspace)["base"]) == ("develop", develop)
    plan.make(config.load(workspace.root), "T-1", repin=True)  # `doit forget plan:T-1`
    assert (entry(workspace)["default_branch"], entry(workspace)["base"]) == ("main", main)


def test_a_ticket_ships_and_lands_on_the_branch_the_remotes_head_names(workspace: Workspace) -> None:
    setup(workspace)
    remote = workspace.remotes / "lib.git"
    git(remote, "branch", "-D", "main")  # only develop: a `main` assumed would fail every step
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    mr = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())
    assert git(remote, "rev-list", "--count", f"develop..{mr['branch']}") == "1"
    run = workspace.doit("land:T-1")
    assert run.returncode == 0, run.out + run.err
    landed = json.loads(workspace.state("T-1", "lib", "land.json").read_text())
    assert landed["into"] == "develop" and git(remote, "rev-parse", "develop") == landed["commit"]
    assert "x = 3" in git(remote, "show", "develop:a.py")
