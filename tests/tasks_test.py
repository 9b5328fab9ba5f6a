"""The doit graph: what reruns when an input changes, failures, listing, locking, kill -9."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from conftest import Workspace, commit_to, git

LIB = {
    "lib/__init__.py": "def old_api(x):\n    return x + 1\n",
    "tests/test_lib.py": "from lib import old_api\n\n\ndef test_old_api():\n    assert old_api(1) == 2\n",
}
APP = {
    "app/__init__.py": "from lib import old_api\n\n\ndef run():\n    return old_api(41)\n",
    "tests/test_app.py": "from app import run\n\n\ndef test_run():\n    assert run() == 42\n",
}
SED = "sed -i 's/old_api/new_api/g' $(git ls-files '*.py')"
TICKET = """---
id: T-1
title: Replace old_api with new_api
agent: {{kind: command, run: "{run}"}}
---
Replace `old_api` with `new_api` everywhere.
"""


APP_GATES = "[ruff, {name: pytest, uses: [lib]}]"


def setup(ws: Workspace, run: str = SED, app_gates: str = APP_GATES, sandbox: bool = True) -> None:
    lib, app = ws.remote("lib", LIB), ws.remote("app", APP)
    other = ws.remote("docs", {"README.md": "nothing to see\n"})
    ws.write(
        "repos.yaml",
        f"""\
defaults:
  gates: [ruff]  # app's pytest gate runs lib's change: one test run per ship is enough here
  env: none  # the graph is what these tests judge; repo_envs_test.py builds envs
  sandbox: {"on" if sandbox else "off"}
repos:
  lib: {{url: {lib}, description: the library, skills: [lib-notes]}}
  app: {{url: {app}, description: the program, gates: {app_gates}}}
  docs: {{url: {other}, description: documentation}}
""",
    )
    ws.write(
        "skills/lib-notes/SKILL.md",
        "---\nname: lib-notes\ndescription: How lib is laid out.\n---\nKeep it small.\n",
    )
    ws.write(
        "skills/app-notes/SKILL.md",
        "---\nname: app-notes\ndescription: How app is laid out.\n"
        "applies_to: {repos: [app]}\n---\nKeep it tidy.\n",
    )
    ws.write("tickets/T-1.md", TICKET.format(run=run.replace('"', '\\"')))


def shipped(ws: Workspace) -> None:
    run = ws.doit("ship")
    assert run.returncode == 0, run.out + run.err


def test_planner_picks_repos_holding_the_identifier_and_pins_bases(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    plan = json.loads(workspace.state("T-1", "plan.json").read_text())
    assert [r["name"] for r in plan["repos"]] == ["lib", "app"]
    assert plan["repos"][0]["skills"] == ["lib-notes"] and plan["repos"][1]["skills"] == ["app-notes"]
    pinned = plan["repos"][0]["base"]
    # upstream moves on; the planned ticket stays on its base, even when the ticket is edited
    commit_to(workspace.remotes / "lib.git", {"extra.py": "X = 1\n"})
    workspace.write(
        "tickets/T-1.md", workspace.root.joinpath("tickets/T-1.md").read_text() + "\nMore words.\n"
    )
    shipped(workspace)
    assert json.loads(workspace.state("T-1", "plan.json").read_text())["repos"][0]["base"] == pinned
    # until the plan is forgotten
    assert workspace.doit("forget", "plan:T-1").returncode == 0
    shipped(workspace)
    assert json.loads(workspace.state("T-1", "plan.json").read_text())["repos"][0]["base"] != pinned


def test_editing_one_skill_reruns_only_the_prompt_and_patch_that_use_it(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    workspace.write(
        "skills/lib-notes/SKILL.md",
        "---\nname: lib-notes\ndescription: How lib is laid out.\n---\nKeep it very small.\n",
    )
    run = workspace.doit("ship")
    assert run.returncode == 0
    # the patch came out the same, so nothing after it reruns
    assert sorted(run.executed) == ["patch:T-1/lib", "prompt:T-1/lib"]


def test_editing_one_gate_setting_reruns_only_that_gate(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    text = workspace.root.joinpath("repos.yaml").read_text()
    workspace.write(
        "repos.yaml", text.replace("{name: pytest, uses: [lib]}", "{name: pytest, uses: [lib], timeout: 60}")
    )
    run = workspace.doit("ship")
    assert run.returncode == 0
    assert run.executed == ["gate:T-1/app/pytest"]


def test_editing_the_ticket_body_reruns_its_graph(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    path = workspace.root / "tickets/T-1.md"
    path.write_text(path.read_text().replace("everywhere.", "everywhere, please."))
    run = workspace.doit("ship")
    assert run.returncode == 0
    for task in (
        "ticket:T-1",
        "plan:T-1",
        "prompt:T-1/lib",
        "prompt:T-1/app",
        "patch:T-1/lib",
        "patch:T-1/app",
    ):
        assert task in run.executed
    assert "please" in workspace.state("T-1", "lib", "prompt.md").read_text()


def test_a_failing_gate_blocks_only_its_repo_and_the_rerun_resumes_there(
    workspace: Workspace, tmp_path: Path
) -> None:
    flag = workspace.root / "allowed"  # the workspace is readable in the sandbox
    setup(workspace, run=SED, app_gates=f"[{{name: check, kind: command, run: 'test -e {flag}'}}]")
    run = workspace.doit("ship")
    assert run.returncode != 0
    assert "T-1/app: gate check: fail" in run.out + run.err
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "open"
    assert not workspace.state("T-1", "app", "mr.json").exists()
    assert json.loads(workspace.state("T-1", "app", "gates", "check.json").read_text())["status"] == "fail"
    assert "app" in run.out and "check fail" in run.out  # the closing table shows the failure
    report = workspace.state("T-1", "report.md").read_text()  # and report.md says why
    assert "- No merge request: check did not pass." in report and "Gate **check**: fail" in report

    flag.touch()  # the world changed, not the gate's inputs: its verdict stands, the gate does not run
    kept = workspace.doit("ship")
    assert (
        kept.returncode != 0 and "unchanged since; doit forget gate:T-1/app/check runs it again" in kept.out
    )
    assert json.loads(workspace.state("T-1", "app", "gates", "check.json").read_text())["status"] == "fail"
    assert workspace.doit("forget", "gate:T-1/app/check").returncode == 0
    again = workspace.doit("ship")
    assert again.returncode == 0, again.out + again.err
    assert again.executed == ["gate:T-1/app/check", "mr:T-1/app", "ship:T-1", "ship:index"]  # no agent twice


def test_an_empty_patch_opens_nothing_and_says_so(workspace: Workspace) -> None:
    setup(workspace, run="true")
    shipped(workspace)
    for repo in ("lib", "app"):
        assert workspace.state("T-1", repo, "patch.diff").read_bytes() == b""
        assert json.loads(workspace.state("T-1", repo, "mr.json").read_text())["state"] == "no-change"
        assert (
            json.loads(workspace.state("T-1", repo, "gates", "ruff.json").read_text())["status"] == "skipped"
        )
    assert "none (no change)" in workspace.state("T-1", "report.md").read_text()
    assert git(workspace.remotes / "lib.git", "branch", "--list", "shipyard/*") == ""


def test_list_info_forget_and_one_target_by_hand(workspace: Workspace) -> None:
    setup(workspace)
    assert workspace.doit("list", "--all").returncode == 0  # before any plan exists
    shipped(workspace)
    listed = workspace.doit("list", "--all").out.split()
    for task in ("prompt:T-1/app", "patch:T-1/lib", "gate:T-1/app/pytest", "mr:T-1/lib", "ship:T-1"):
        assert task in listed
    info = workspace.doit("info", "patch:T-1/lib")
    assert info.returncode == 0 and "up-to-date" in info.out
    assert workspace.doit("forget", "patch:T-1/lib").returncode == 0
    run = workspace.doit("patch:T-1/lib")
    assert run.returncode == 0
    assert "patch:T-1/lib" in run.executed and "patch:T-1/app" not in run.executed


def test_rerunning_the_merge_request_keeps_one_branch_and_one_commit(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    first = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())
    assert workspace.doit("forget", "mr:T-1/lib").returncode == 0
    assert workspace.doit("mr:T-1/lib").returncode == 0
    second = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())
    assert first["commit"] == second["commit"]
    remote = workspace.remotes / "lib.git"
    assert git(remote, "branch", "--list", "shipyard/*").split() == [first["branch"]]
    assert git(remote, "rev-list", "--count", f"main..{first['branch']}") == "1"


def test_a_second_run_stops_at_once_naming_the_first(workspace: Workspace) -> None:
    # the agents wait until the test has looked
    setup(workspace, run=f"until [ -e $SHIPYARD_ROOT/go ]; do sleep 0.05; done; {SED}")
    first = workspace.popen("ship")
    try:
        deadline = time.monotonic() + 30
        while not workspace.state(".lock.holder").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = workspace.doit("ship", timeout=20)
        assert second.returncode == 3
        assert f"pid {first.pid}" in second.err and "in use" in second.err
        # looking needs no lock: list and info answer while the ship runs
        assert workspace.doit("list", "--all", timeout=20).returncode == 0
        assert workspace.doit("info", "plan:T-1", timeout=20).returncode == 0
    finally:
        workspace.write("go", "")
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err


def test_kill_9_mid_ship_then_rerun_redoes_no_finished_step(workspace: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "agent.log"  # outside the worktree, where only an agent not sandboxed writes
    # lib's agent finishes; the others wait for the word the test gives after the kill
    wait = "[ $SHIPYARD_REPO = lib ] || until [ -e $SHIPYARD_ROOT/go ]; do sleep 0.05; done"
    setup(workspace, run=f"echo $SHIPYARD_REPO >> {log}; {wait}; {SED}", sandbox=False)
    # a third repo so that the kill lands with work both done and left
    text = workspace.root.joinpath("repos.yaml").read_text()
    more = workspace.remote("tool", {"tool/__init__.py": "from lib import old_api\n\nprint(old_api(1))\n"})
    workspace.write("repos.yaml", text + f"  tool: {{url: {more}, description: a tool, gates: [ruff]}}\n")
    proc = workspace.popen("ship")
    deadline = time.monotonic() + 60
    while not workspace.state("T-1", "lib", "agent.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # polls for the first finished patch; the kill lands right after it
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    finished = [r for r in ("lib", "app", "tool") if workspace.state("T-1", r, "agent.json").exists()]
    assert finished == ["lib"], "the kill lands with lib's patch done and the others' under way"
    workspace.write("go", "")
    # a repo whose gates had started: doit had recorded its patch step, which does not run again
    recorded = [r for r in finished if workspace.state("T-1", r, "gates").exists()]

    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    invoked = log.read_text().split()
    for repo in finished:  # a finished agent run is never paid for again, recorded by doit or not
        assert invoked.count(repo) == 1, (repo, invoked)
    for repo in recorded:
        assert f"patch:T-1/{repo}" not in run.executed
    for repo in ("lib", "app", "tool"):
        mr = json.loads(workspace.state("T-1", repo, "mr.json").read_text())
        remote = workspace.remotes / f"{repo}.git"
        assert git(remote, "branch", "--list", "shipyard/*").split() == [mr["branch"]]
        assert git(remote, "rev-list", "--count", f"main..{mr['branch']}") == "1"
    for path in workspace.state().rglob("*.json"):
        json.loads(path.read_text())  # nothing half-written
    leftovers = list(workspace.state().rglob("*.tmp"))
    assert not leftovers, (leftovers, run.out)


def test_a_deleted_target_is_rebuilt_alone(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    for task, target in (
        ("prompt:T-1/lib", workspace.state("T-1", "lib", "prompt.md")),
        ("gate:T-1/lib/ruff", workspace.state("T-1", "lib", "gates", "ruff.json")),
        ("ship:T-1", workspace.state("T-1", "report.md")),
    ):
        before = target.read_text()
        target.unlink()
        run = workspace.doit("ship")
        assert run.returncode == 0
        assert run.executed == [task]
        assert target.read_text() == before


def test_a_failing_agent_fails_its_patch_in_one_line_and_leaves_no_patch(workspace: Workspace) -> None:
    setup(workspace, run=f'if [ "$SHIPYARD_REPO" = app ]; then echo cannot parse app.py; exit 2; fi; {SED}')
    run = workspace.doit("ship")
    assert run.returncode != 0
    assert "T-1/app: patch: command exited 2: cannot parse app.py" in run.out + run.err
    assert not workspace.state("T-1", "app", "patch.diff").exists()
    assert json.loads(workspace.state("T-1", "app", "agent.json").read_text())["status"] == "failed"
    assert "- No patch: the agent's step failed" in workspace.state("T-1", "report.md").read_text()
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "open"


def test_ship_one_ticket_runs_only_that_tickets_tasks(workspace: Workspace) -> None:
    setup(workspace)
    workspace.write(
        "tickets/T-2.md",
        TICKET.format(run=SED.replace('"', '\\"'))
        .replace("id: T-1", "id: T-2")
        .replace("title: Replace", "title: Also replace"),
    )
    run = workspace.doit("ship:T-2")
    assert run.returncode == 0, run.out + run.err
    assert run.executed and all("T-2" in task for task in run.executed)
    assert not workspace.state("T-1", "plan.json").exists() or not workspace.state("T-1", "lib").exists()
    assert json.loads(workspace.state("T-2", "lib", "mr.json").read_text())["state"] == "open"


def reshipped(ws: Workspace, old: str, new: str) -> tuple[dict, dict]:
    """lib's merge request record after a ship, and after editing the ticket and shipping again."""
    setup(ws)
    shipped(ws)
    first = json.loads(ws.state("T-1", "lib", "mr.json").read_text())
    path = ws.root / "tickets/T-1.md"
    path.write_text(path.read_text().replace(old, new))
    shipped(ws)
    return first, json.loads(ws.state("T-1", "lib", "mr.json").read_text())


def test_a_changed_patch_updates_the_branch_in_place(workspace: Workspace) -> None:
    first, second = reshipped(workspace, "s/old_api/new_api/g", "s/old_api/newer_api/g")
    assert second["branch"] == first["branch"] and second["commit"] != first["commit"]
    remote = workspace.remotes / "lib.git"
    assert git(remote, "branch", "--list", "shipyard/*").split() == [first["branch"]]
    assert git(remote, "rev-parse", first["branch"]) == second["commit"]
    assert git(remote, "rev-list", "--count", f"main..{first['branch']}") == "1"
    assert "newer_api" in git(remote, "show", f"{first['branch']}:lib/__init__.py")


def test_a_finished_agent_run_is_kept_when_doit_lost_its_record(workspace: Workspace, tmp_path: Path) -> None:
    # a kill between the agent finishing and doit saving its record looks like a forgotten task
    log = tmp_path / "agent.log"  # outside the worktree, where only an agent not sandboxed writes
    setup(workspace, run=f"echo $SHIPYARD_REPO >> {log}; {SED}", sandbox=False)
    shipped(workspace)
    assert workspace.doit("forget", "patch:T-1/lib").returncode == 0
    run = workspace.doit("ship")
    assert run.returncode == 0 and "patch:T-1/lib" in run.executed
    assert sorted(log.read_text().split()) == ["app", "lib"]
    # `doit clean` throws the result away: then the agent runs again
    assert workspace.doit("clean", "patch:T-1/lib").returncode == 0
    assert not workspace.state("T-1", "lib", "patch.diff").exists()
    shipped(workspace)
    assert sorted(log.read_text().split()) == ["app", "lib", "lib"]


def test_removing_a_planned_repo_replans_instead_of_crashing(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    text = workspace.root.joinpath("repos.yaml").read_text()
    kept = [line for line in text.splitlines(keepends=True) if not line.startswith("  app:")]
    workspace.write("repos.yaml", "".join(kept))
    listed = workspace.doit("list", "--all")
    assert listed.returncode == 0, listed.err
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    plan = json.loads(workspace.state("T-1", "plan.json").read_text())
    assert [r["name"] for r in plan["repos"]] == ["lib"]


def test_a_retitled_ticket_keeps_the_branch_it_pushed(workspace: Workspace) -> None:
    first, second = reshipped(workspace, "title: Replace old_api", "title: Swap old_api")
    assert second["branch"] == first["branch"] and second["title"].startswith("Swap old_api")
    remote = workspace.remotes / "lib.git"
    assert git(remote, "branch", "--list", "shipyard/*").split() == [first["branch"]]


def test_a_mistyped_task_name_is_one_line_naming_what_exists(workspace: Workspace) -> None:
    setup(workspace)
    assert workspace.doit("plan:T-1").returncode == 0
    for asked, said in (
        ("patch:T-1/lbi", "patch:T-1/lbi: no repo 'lbi'; repos.yaml has: lib, app, docs"),
        ("ship:T-9", "ship:T-9: no ticket 'T-9'; tickets/ has: T-1"),
        ("gate:T-1/app/rufff", "gate:T-1/app/rufff: app has no gate 'rufff'; its gates: ruff, pytest"),
        ("patch:T-1/docs", "patch:T-1/docs: T-1 does not change docs; its plan has: lib, app"),
    ):
        for command in (("info", asked), (asked,)):
            run = workspace.doit(*command)
            assert (run.returncode, run.err.strip()) == (3, f"ERROR: {said}")


def test_a_bare_clean_is_refused_and_a_named_one_is_not(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    run = workspace.doit("clean")
    assert run.returncode == 3 and "doit clean --all" in run.err
    assert workspace.state("T-1", "lib", "patch.diff").exists()  # nothing was thrown away
    assert workspace.doit("clean", "patch:T-1/lib").returncode == 0
    assert not workspace.state("T-1", "lib", "patch.diff").exists()


def test_a_fetch_killed_midway_leaves_no_lock_that_stops_the_next(workspace: Workspace) -> None:
    setup(workspace)
    shipped(workspace)
    mirror = workspace.state("mirrors", "lib.git")
    (mirror / "refs" / "remotes" / "origin" / "main.lock").write_text("")  # as a kill -9 leaves it
    (mirror / "packed-refs.lock").write_text("")
    commit_to(workspace.remotes / "lib.git", {"extra.py": "X = 1\n"})
    assert workspace.doit("forget", "plan:T-1").returncode == 0
    shipped(workspace)
    plan = json.loads(workspace.state("T-1", "plan.json").read_text())
    assert plan["repos"][0]["base"] == git(workspace.remotes / "lib.git", "rev-parse", "main")


def test_a_changed_url_is_where_the_base_comes_from_and_the_branch_goes(
    workspace: Workspace, tmp_path: Path
) -> None:
    setup(workspace)
    shipped(workspace)
    moved = tmp_path / "moved" / "lib.git"
    moved.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(workspace.remotes / "lib.git"), str(moved))
    for branch in git(moved, "branch", "--list", "shipyard/*").split():
        git(moved, "branch", "-D", branch)
    newer = commit_to(moved, {"moved.py": "X = 1\n"})
    text = workspace.root.joinpath("repos.yaml").read_text()
    workspace.write("repos.yaml", text.replace(str(workspace.remotes / "lib.git"), str(moved)))
    assert workspace.doit("forget", "plan:T-1").returncode == 0
    shipped(workspace)
    plan = json.loads(workspace.state("T-1", "plan.json").read_text())
    assert plan["repos"][0]["base"] == newer
    mr = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())
    assert git(moved, "rev-parse", mr["branch"]) == mr["commit"]


def test_an_unreachable_repo_fails_only_the_tickets_that_name_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    setup(workspace)
    text = workspace.root.joinpath("repos.yaml").read_text()
    gone = tmp_path / "nowhere.git"
    workspace.write("repos.yaml", text + f"  lost: {{url: {gone}, description: gone}}\n  odd: "
                    f"{{url: {workspace.remotes / 'docs.git'}, default_branch: trunk}}\n")  # fmt: skip
    front = 'id: T-2\ntitle: Fix lost\nrepos: [lost]\nagent: {kind: command, run: "true"}'
    workspace.write("tickets/T-2.md", f"---\n{front}\n---\nFix.\n")
    run = workspace.doit("ship")
    assert run.returncode != 0  # T-2 names the lost repo
    out = run.out + run.err
    assert "T-1: plan: skipped lost, which cannot be reached: repo lost: cannot fetch" in out
    assert "T-1: plan: skipped odd, which cannot be reached: repo odd: branch 'trunk' not found" in out
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "open"
    assert [
        line for line in out.splitlines() if line.strip().startswith("T-2: plan: repo lost: cannot fetch")
    ]


def test_the_graph_is_built_in_process_from_the_workspace_it_is_given(
    workspace: Workspace, tmp_path: Path
) -> None:
    from doit import loader

    from pipelines import config, plan, tasks

    setup(workspace)
    other = Workspace(tmp_path / "other")
    solo = other.remote("solo", {"a.py": "x = 1\n"})
    other.write("repos.yaml", f"repos:\n  solo: {{url: {solo}}}\n")
    other.write(
        "tickets/S-1.md",
        "---\nid: S-1\ntitle: Solo\nrepos: [solo]\nagent: {kind: command, run: 'true'}\n---\n",
    )
    first, second = config.load(workspace.root), config.load(other.root)
    plan.make(first, "T-1", repin=True)
    plan.make(second, "S-1", repin=True)
    graphs = [tasks.creators(ws, ["doit", "list"]) for ws in (first, second)]
    names = [[f"{t['basename']}:{t['name']}" for t in graph["task_ship"]() if t["name"]] for graph in graphs]
    assert names[0] == [
        "prompt:T-1/lib", "patch:T-1/lib", "gate:T-1/lib/ruff", "mr:T-1/lib",
        "prompt:T-1/app", "patch:T-1/app", "gate:T-1/app/ruff", "gate:T-1/app/pytest", "mr:T-1/app",
        "ship:T-1", "ship:index",
    ]  # fmt: skip
    solo_gates = [f"gate:S-1/solo/{g}" for g in ("ruff", "pytest")]
    solo_names = ["prompt:S-1/solo", "patch:S-1/solo", *solo_gates, "mr:S-1/solo", "ship:S-1", "ship:index"]
    assert names[1] == solo_names
    # what an mr step records of its inputs is its own repo's, whatever the number of siblings
    mr = next(t for t in graphs[0]["task_ship"]() if t["basename"] == "mr" and t["name"] == "T-1/lib")
    assert "app" not in json.dumps(mr["uptodate"][0].config)
    # `doit list` gives each kind of step its own doc, not the ship's
    loaded = loader.generate_tasks("ship", graphs[0]["task_ship"](), graphs[0]["task_ship"].__doc__)
    docs = {t.name: t.doc for t in loaded if ":" not in t.name}
    assert docs == {kind: tasks.KINDS[kind] for kind in ("prompt", "patch", "gate", "mr", "ship")}
    assert len({t.name for t in loaded}) == len(loaded)
    gate_group = next(t for t in loaded if t.name == "gate")
    assert gate_group.task_dep == ["gate:T-1/lib/ruff", "gate:T-1/app/ruff", "gate:T-1/app/pytest"]
