"""Landing a ticket on the local forge: in plan order, bound to the pushed commit, never twice."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Workspace, commit_to, git
from fake_github import FakeGitHub
from fake_gitlab import FakeGitLab
from forges_test import APP, GH_TOKEN, LIB, write_repos
from forges_test import TOKEN as GL_TOKEN
from forges_test import setup as gitlab_setup
from tasks_test import SED, setup


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
    report = workspace.state("T-1", "report.md").read_text()
    assert f"- Landed: merged into `main` at `{landed(workspace, 'app')['commit'][:12]}`" in report
    ticket = workspace.root.joinpath("tickets/T-1.md").read_text()
    assert "status: landed" in ticket and "title: Replace old_api with new_api" in ticket
    assert (
        not workspace.state("T-1", "lib", "work").exists()
        and workspace.state("T-1", "lib", "patch.diff").exists()
    )
    again = workspace.doit("ship")  # a landed ticket is not shipped again, and the run says so
    assert again.executed == ["ship"] and "nothing to ship: tickets/ has no open ticket" in again.out


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


def test_github_pull_requests_land_in_order_once_approved_and_green(workspace: Workspace) -> None:
    lib, app = workspace.remote("lib", LIB), workspace.remote("app", APP)
    with FakeGitHub(token=GH_TOKEN, remotes={"acme/lib": lib, "acme/app": app}) as github:
        forge = f"kind: github, api_url: '{github.url}', timeout: 2, backoff: 0.05, approvals: 1"
        write_repos(workspace, lib, app, f"{forge}, repo: acme/lib", f"{forge}, repo: acme/app")
        text = workspace.root.joinpath("repos.yaml").read_text()
        workspace.write(
            "repos.yaml", text.replace("  app: {url:", "  app: {gates: [{name: ruff, uses: [lib]}], url:")
        )
        env = {"GITHUB_TOKEN": GH_TOKEN}
        assert workspace.doit("ship", env=env).returncode == 0
        pulls = {repo: github.pulls(f"acme/{repo}")[0] for repo in ("lib", "app")}
        run = workspace.doit("land:T-1", env=env)  # no approval yet: it waits, and nothing merges
        assert run.returncode != 0 and "T-1/lib: land: waiting: 0 of 1 approvals" in run.out + run.err
        for repo, pull in pulls.items():
            github.reviews[(f"acme/{repo}", pull["number"])] = ["APPROVED"]
            github.statuses[pull["sha"]] = [{"state": "pending", "context": "ci"}]
        run = workspace.doit("land:T-1", env=env)
        assert (
            run.returncode != 0
            and "T-1/lib: land: waiting: its checks are still running" in run.out + run.err
        )
        for pull in pulls.values():
            github.statuses[pull["sha"]] = [{"state": "success", "context": "ci"}]
        run = workspace.doit("land:T-1", env=env)
        assert run.returncode == 0, run.out + run.err
        assert run.executed.index("land:T-1/lib") < run.executed.index("land:T-1/app")
        assert [github.pulls(f"acme/{r}")[0]["merged"] for r in ("lib", "app")] == [True, True]
        merges = github.seen("PUT", r"/pulls/\d+/merge$")
        assert len(merges) == 2 and {m["body"]["sha"] for m in merges} == {p["sha"] for p in pulls.values()}
        assert git(lib, "rev-parse", "main") == pulls["lib"]["sha"]
        assert "status: landed" in workspace.root.joinpath("tickets/T-1.md").read_text()


def test_gitlab_merge_requests_land_once_approved_and_their_pipeline_passed(workspace: Workspace) -> None:
    with FakeGitLab(token=GL_TOKEN, projects=("group/lib", "group/app")) as gitlab:
        gitlab_setup(workspace, gitlab)
        env = {"GITLAB_TOKEN": GL_TOKEN}
        assert workspace.doit("ship", env=env).returncode == 0
        pushed = {
            r: json.loads(workspace.state("T-1", r, "mr.json").read_text())["commit"] for r in ("lib", "app")
        }
        for repo, sha in pushed.items():
            gitlab.set_merge_request(f"group/{repo}", 1, sha=sha, approvals_left=1)
        run = workspace.doit("land:T-1", env=env)
        assert run.returncode != 0 and "land: waiting: it needs 1 more approval" in run.out + run.err
        for repo in pushed:
            running = {"id": 1, "status": "running"}
            gitlab.set_merge_request(f"group/{repo}", 1, approvals_left=0, head_pipeline=running)
        run = workspace.doit("land:T-1", env=env)
        assert run.returncode != 0 and "land: waiting: its pipeline is still running" in run.out + run.err
        for repo in pushed:
            gitlab.set_merge_request(f"group/{repo}", 1, head_pipeline={"id": 1, "status": "success"})
        run = workspace.doit("land:T-1", env=env)
        assert run.returncode == 0, run.out + run.err
        assert [gitlab.merge_requests[f"group/{r}"][0]["state"] for r in pushed] == ["merged", "merged"]
        merges = gitlab.calls("PUT", "/merge")
        assert sorted(m["query"]["sha"] for m in merges) == sorted(
            pushed.values()
        )  # bound to the pushed commits


def test_refresh_moves_a_patch_onto_a_moved_base_and_runs_the_agent_only_on_a_conflict(
    workspace: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "agent.log"  # outside the worktree, where only an agent not sandboxed writes
    setup(workspace, run=f"echo $SHIPYARD_REPO >> {log}; {SED}", sandbox=False)
    assert workspace.doit("ship").returncode == 0
    lib, app = workspace.remotes / "lib.git", workspace.remotes / "app.git"
    lib_tip = commit_to(lib, {"NEWS.md": "upstream moved on\n"})  # applies cleanly
    commit_to(
        app, {"app/__init__.py": "from lib import old_api\n\n\ndef run(y=0):\n    return old_api(41)\n"}
    )
    run = workspace.doit("land:T-1/lib")  # a moved base does not land as it is
    assert run.returncode != 0 and "T-1/lib: land: main moved from the base" in run.out + run.err
    assert "refresh the ticket" in run.out + run.err
    assert workspace.doit("status").returncode == 0  # says where each base stands
    rows = json.loads(workspace.state("T-1", "status.json").read_text())["repos"]
    assert [r["base"] for r in rows] == ["1 behind main: doit refresh:T-1"] * 2
    run = workspace.doit("refresh:T-1")
    assert run.returncode == 0, run.out + run.err
    assert f"lib: re-applied on {lib_tip[:12]}" in run.out and "app: conflict on" in run.out
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    assert log.read_text().split() == ["lib", "app", "app"] or sorted(log.read_text().split()) == [
        "app",
        "app",
        "lib",
    ]
    plan = json.loads(workspace.state("T-1", "plan.json").read_text())
    assert next(r for r in plan["repos"] if r["name"] == "lib")["base"] == lib_tip
    branch = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["branch"]
    assert git(lib, "rev-parse", f"{branch}^") == lib_tip  # the same change, on the new base
    assert "new_api" in git(lib, "show", f"{branch}:lib/__init__.py")
    assert "The base moved" in workspace.state("T-1", "app", "prompt.md").read_text()
    assert workspace.doit("land:T-1").returncode == 0  # and it lands there


def test_a_moved_base_lands_in_a_merge_commit_and_the_branch_stays_if_the_forge_says_so(
    workspace: Workspace,
) -> None:
    setup(workspace)
    text = workspace.root.joinpath("repos.yaml").read_text()
    forge = "{kind: local, merge: merge-commit, delete_branch: false}"
    workspace.write("repos.yaml", text.replace("defaults:\n", f"defaults:\n  forge: {forge}\n"))
    assert workspace.doit("ship").returncode == 0
    lib = workspace.remotes / "lib.git"
    upstream = commit_to(lib, {"NEWS.md": "upstream moved on\n"})
    run = workspace.doit("land:T-1/lib")
    assert run.returncode == 0, run.out + run.err
    parents = git(lib, "rev-list", "--parents", "-n", "1", "main").split()[1:]
    assert parents[0] == upstream and len(parents) == 2  # the upstream commit, and the pushed change
    assert "new_api" in git(lib, "show", "main:lib/__init__.py") and git(lib, "show", "main:NEWS.md")
    branch = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["branch"]
    assert git(lib, "branch", "--list", branch).strip() == branch  # delete_branch: false keeps it


def test_three_repos_in_order_the_middle_failing_its_checks_lands_the_first_only(
    workspace: Workspace,
) -> None:
    names = ("lib", "app", "tool")
    remotes = {
        name: workspace.remote(name, {f"{name}.py": "def old_api():\n    return 1\n"}) for name in names
    }
    with FakeGitHub(token=GH_TOKEN, remotes={f"acme/{n}": r for n, r in remotes.items()}) as github:
        forge = f"kind: github, api_url: '{github.url}', timeout: 2, backoff: 0.05"
        uses = {"lib": "[]", "app": "[{name: ruff, uses: [lib]}]", "tool": "[{name: ruff, uses: [app]}]"}
        lines = [
            f"  {n}: {{url: {remotes[n]}, gates: {uses[n]}, forge: {{{forge}, repo: acme/{n}}}}}"
            for n in names
        ]
        sed = "sed -i s/old_api/new_api/ *.py"
        defaults = f'defaults:\n  agent: {{kind: command, run: "{sed}"}}\n  env: none\n'
        workspace.write("repos.yaml", defaults + "repos:\n" + "\n".join(lines) + "\n")
        workspace.write(
            "tickets/T-1.md", "---\nid: T-1\ntitle: New api\nrepos: [tool, app, lib]\n---\nRename.\n"
        )
        env = {"GITHUB_TOKEN": GH_TOKEN}
        assert workspace.doit("ship", env=env).returncode == 0
        plan = json.loads(workspace.state("T-1", "plan.json").read_text())
        assert [r["name"] for r in plan["repos"]] == ["lib", "app", "tool"]  # each after what it uses
        for name, state in zip(names, ("success", "failure", "success"), strict=True):
            github.statuses[github.pulls(f"acme/{name}")[0]["sha"]] = [{"state": state, "context": "ci"}]
        run = workspace.doit("land:T-1", env=env)
        assert run.returncode != 0
        assert "T-1/app: land: its checks failed on" in run.out + run.err
        assert [github.pulls(f"acme/{n}")[0]["merged"] for n in names] == [True, False, False]
        assert "land:T-1/tool" not in run.executed  # it comes after app: it waits


def test_what_is_green_lands_and_the_red_repo_says_why_in_one_line(workspace: Workspace) -> None:
    setup(workspace, app_gates="[{name: check, kind: command, run: 'false'}]")
    assert workspace.doit("ship").returncode != 0  # app's gate fails: lib's merge request opens alone
    run = workspace.doit("land:T-1")
    assert run.returncode != 0
    assert "ok    land:T-1/lib" in run.out  # lib lands: it comes first, and it is green
    said = next(x for x in run.out.splitlines() if x.startswith("T-1/app: land: "))
    assert said.startswith("T-1/app: land: no merge request yet (failed at gate check (fail: ")
    assert said.endswith("doit ship:T-1 (see state/T-1/report.md)")
    assert (
        landed(workspace, "lib")["state"] == "merged"
        and not workspace.state("T-1", "app", "land.json").exists()
    )
    assert "status: landed" not in workspace.root.joinpath("tickets/T-1.md").read_text()
    assert workspace.doit("status").returncode == 0
    rows = json.loads(workspace.state("T-1", "status.json").read_text())["repos"]
    assert [(r["repo"], r["state"].split(" (")[0].split(":")[0]) for r in rows] == [
        ("lib", "landed"), ("app", "failed at gate check")
    ]  # fmt: skip
