"""GitHub and GitLab merge requests through `doit ship`, against local forge servers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import Workspace
from fake_github import FakeGitHub
from fake_gitlab import FakeGitLab

from pipelines import forges
from pipelines.errors import StepError

TOKEN = "glpat-never-in-state-0123456789"
LIB = {"lib.py": "def old_api():\n    return 1\n"}
APP = {"app.py": "from lib import old_api\n\nprint(old_api())\n"}
AGENT = "env > /dev/null; sed -i 's/old_api/new_api/g' *.py"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab(token=TOKEN, projects=("group/lib", "group/app")) as server:
        yield server


def write_repos(ws: Workspace, lib: object, app: object, lib_forge: str, app_forge: str) -> None:
    """repos.yaml for the two repos, each with its forge settings, and the ticket changing both."""
    ws.write("repos.yaml", f"""\
defaults:
  agent: {{kind: command, run: "{AGENT}"}}
  gates: [ruff]
repos:
  lib: {{url: {lib}, forge: {{{lib_forge}}}}}
  app: {{url: {app}, forge: {{{app_forge}}}}}
""")  # fmt: skip
    ws.write("tickets/T-1.md", "---\nid: T-1\ntitle: New api\nrepos: [lib, app]\n---\nUse `new_api`.\n")


def setup(ws: Workspace, server: FakeGitLab, app_token_env: str = "GITLAB_TOKEN") -> None:
    lib, app = ws.remote("lib", LIB), ws.remote("app", APP)
    forge = f"kind: gitlab, url: '{server.url}', timeout: 2, backoff: 0.05"
    write_repos(
        ws,
        lib,
        app,
        f"{forge}, project: group/lib",
        f"{forge}, project: group/app, token_env: {app_token_env}",
    )


def ship(ws: Workspace, **env: str):
    return ws.doit("ship", env={"GITLAB_TOKEN": TOKEN, **env})


def test_siblings_link_each_other_and_a_rerun_duplicates_nothing(
    workspace: Workspace, gitlab: FakeGitLab
) -> None:
    setup(workspace, gitlab)
    run = ship(workspace)
    assert run.returncode == 0, run.out + run.err
    lib_mr, app_mr = gitlab.merge_requests["group/lib"][0], gitlab.merge_requests["group/app"][0]
    assert app_mr["web_url"] in lib_mr["description"] and lib_mr["web_url"] in app_mr["description"]
    assert "in this order: lib, app" in lib_mr["description"]
    record = json.loads(workspace.state("T-1", "lib", "mr.json").read_text())
    assert (record["forge"], record["iid"], record["url"]) == ("gitlab", 1, lib_mr["web_url"])
    again = ship(workspace)
    assert again.returncode == 0 and again.executed == []
    workspace.doit("forget", "mr:T-1/lib")
    assert ship(workspace).returncode == 0
    assert [len(gitlab.merge_requests[p]) for p in ("group/lib", "group/app")] == [1, 1]


def test_a_401_stops_that_repo_alone_in_one_line(workspace: Workspace, gitlab: FakeGitLab) -> None:
    setup(workspace, gitlab, app_token_env="APP_TOKEN")
    run = ship(workspace, APP_TOKEN="glpat-wrong")
    assert run.returncode != 0
    line = f"app: gitlab {gitlab.url} answered 401 for group/app: check that $APP_TOKEN holds a valid token"
    assert line in run.out + run.err
    assert "glpat-wrong" not in run.out + run.err
    assert json.loads(workspace.state("T-1", "lib", "mr.json").read_text())["state"] == "open"
    assert gitlab.merge_requests["group/app"] == []


def test_the_token_reaches_no_file_log_or_agent(workspace: Workspace, gitlab: FakeGitLab) -> None:
    setup(workspace, gitlab)
    text = workspace.root.joinpath("repos.yaml").read_text()
    workspace.write("repos.yaml", text.replace("env > /dev/null", "env"))  # the agent prints its env
    run = ship(workspace)
    assert run.returncode == 0, run.out + run.err
    assert "SHIPYARD_REPO=lib" in workspace.state("T-1", "lib", "transcript.jsonl").read_text()
    assert TOKEN not in run.out + run.err
    for path in workspace.state().rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert any(r["tokens"].get("PRIVATE-TOKEN") == TOKEN for r in gitlab.requests)  # it reached the forge


def test_status_reads_state_and_checks_back(workspace: Workspace, gitlab: FakeGitLab) -> None:
    setup(workspace, gitlab)
    assert ship(workspace).returncode == 0
    gitlab.set_merge_request("group/lib", 1, head_pipeline={"id": 7, "status": "failed"})
    gitlab.set_merge_request("group/app", 1, state="merged")
    run = workspace.doit("status", env={"GITLAB_TOKEN": TOKEN})
    assert run.returncode == 0, run.out + run.err
    rows = json.loads(workspace.state("T-1", "status.json").read_text())["repos"]
    assert [(r["repo"], r["state"], r["checks"]) for r in rows] == [
        ("lib", "open", "failed"),
        ("app", "landed (merged on the forge)", "none"),
    ]
    assert {r["branch"] for r in rows} == {"shipyard/T-1-new-api"}
    # repos.yaml moves app to another forge: status says so instead of failing
    forge = f"kind: gitlab, url: '{gitlab.url}', timeout: 2, backoff: 0.05, project: group/lib"
    write_repos(workspace, workspace.remotes / "lib.git", workspace.remotes / "app.git", forge, "kind: local")
    run = workspace.doit("status", env={"GITLAB_TOKEN": TOKEN})
    assert run.returncode == 0, run.out + run.err
    rows = json.loads(workspace.state("T-1", "status.json").read_text())["repos"]
    assert rows[1]["checks"] == "opened on gitlab; repos.yaml now says local: ship to move it"
    # and a ship moves it: the branch goes to app's remote, the record says local
    run = ship(workspace)
    assert run.returncode == 0 and "Traceback" not in run.err, run.out + run.err
    assert json.loads(workspace.state("T-1", "app", "mr.json").read_text())["forge"] == "local"
    assert "mr:T-1/lib" not in run.executed  # lib's settings did not change


def test_intake_of_a_gitlab_issue(workspace: Workspace, gitlab: FakeGitLab) -> None:
    setup(workspace, gitlab)
    gitlab.add_issue("group/app", "Use the new api", "The old one is going away.", ["api", "cleanup"])
    url = f"{gitlab.url}/group/app/-/issues/1"
    run = workspace.doit("intake", f"url={url}", env={"GITLAB_TOKEN": TOKEN})
    assert run.returncode == 0, run.out + run.err
    ticket = workspace.root / "tickets" / "app-1.md"
    assert ticket.read_text() == (
        f"---\nid: app-1\ntitle: Use the new api\nlabels:\n- api\n- cleanup\nlink: {url}\n---\n"
        "The old one is going away.\n"
    )
    before = ticket.stat().st_mtime_ns
    again = workspace.doit("intake", f"url={url}", env={"GITLAB_TOKEN": TOKEN})
    assert "is up to date" in again.out and ticket.stat().st_mtime_ns == before


GH_TOKEN = "ghp_never_in_state_0123456789abcdef"


def test_github_pull_requests_then_a_rerun_updates_in_place(workspace: Workspace) -> None:
    lib, app = workspace.remote("lib", LIB), workspace.remote("app", APP)
    with FakeGitHub(token=GH_TOKEN, remotes={"acme/lib": lib, "acme/app": app}) as github:
        forge = f"kind: github, api_url: '{github.url}', timeout: 2, backoff: 0.05, labels: [shipyard]"
        write_repos(workspace, lib, app, f"{forge}, repo: acme/lib", f"{forge}, repo: acme/app")
        run = workspace.doit("ship", env={"GITHUB_TOKEN": GH_TOKEN})
        assert run.returncode == 0, run.out + run.err
        lib_pr, app_pr = github.pulls("acme/lib"), github.pulls("acme/app")
        assert len(lib_pr) == len(app_pr) == 1
        lib_mr, app_mr = (
            json.loads(workspace.state("T-1", r, "mr.json").read_text()) for r in ("lib", "app")
        )
        assert app_mr["url"] in lib_pr[0]["body"] and lib_mr["url"] in app_pr[0]["body"]
        assert app_mr["forge"] == "github" and app_mr["url"].startswith(github.web)
        # one create each, then one edit each for the links (their addresses exist only then)
        assert len(github.seen("POST", r"/pulls$")) == 2 and len(github.seen("PATCH", r"/pulls/\d+$")) == 2
        # the links are the ship step's: ship.json has them, mr.json keeps what the mr step wrote
        links = json.loads(workspace.state("T-1", "ship.json").read_text())["links"]
        assert [(link["repo"], link["url"]) for link in links] == [
            ("lib", lib_mr["url"]),
            ("app", app_mr["url"]),
        ]
        assert "Sibling" not in lib_mr["body"] and "Sibling" in lib_pr[0]["body"]
        writes = len([r for r in github.requests if r["method"] != "GET"])
        assert workspace.doit("ship", env={"GITHUB_TOKEN": GH_TOKEN}).executed == []
        assert len([r for r in github.requests if r["method"] != "GET"]) == writes
        path = workspace.root / "tickets/T-1.md"
        path.write_text(path.read_text().replace("Use `new_api`.", "Use `new_api` everywhere."))
        assert workspace.doit("ship", env={"GITHUB_TOKEN": GH_TOKEN}).returncode == 0
        assert [len(github.pulls(r)) for r in ("acme/lib", "acme/app")] == [1, 1]
        assert "everywhere" in github.pulls("acme/lib")[0]["body"]
    for path in workspace.state().rglob("*"):
        if path.is_file():
            assert GH_TOKEN.encode() not in path.read_bytes(), path


def test_intake_of_a_github_issue(workspace: Workspace) -> None:
    with FakeGitHub(token=GH_TOKEN, remotes={"acme/billing": workspace.remote("billing", LIB)}) as github:
        repos = f"repos:\n  billing: {{url: {workspace.remotes}/billing.git}}\n"
        workspace.write("repos.yaml", "defaults:\n  agent: {kind: command, run: 'true'}\n" + repos)
        number = github.add_issue(
            "acme/billing", "Bill in the customer's currency", "Use their currency.", ("money",)
        )
        url = f"{github.web}/acme/billing/issues/{number}"
        run = workspace.doit("intake", f"url={url}", env={"GITHUB_TOKEN": GH_TOKEN})
        assert run.returncode == 0, run.out + run.err
    ticket = (workspace.root / "tickets" / f"billing-{number}.md").read_text()
    assert ticket.startswith(f"---\nid: billing-{number}\ntitle: Bill in the customer's currency\n")
    assert (
        f"link: {url}\n" in ticket and "- money\n" in ticket and ticket.endswith("---\nUse their currency.\n")
    )


def test_a_token_cmd_that_hangs_is_one_line() -> None:
    with pytest.raises(StepError, match=r"^app: token_cmd `exec sleep 30` gave no token in 0.5s$"):
        forges.token(None, "exec sleep 30", "app", wait=0.5)


def test_retries_below_one_are_bad_input(workspace: Workspace) -> None:
    remote = workspace.remote("app", {"app.py": "X = 1\n"})
    forge = "{kind: github, repo: acme/app, retries: 0}"
    workspace.write("repos.yaml", f"defaults:\n  forge: {forge}\nrepos:\n  app: {{url: {remote}}}\n")
    run = workspace.doit("list")
    assert run.returncode == 3
    assert run.err.strip() == (
        "ERROR: repos.yaml:2: defaults.forge.retries: input should be greater than or equal to 1, got 0"
    )


def test_intake_without_a_token_says_how_to_give_one(workspace: Workspace) -> None:
    workspace.write("repos.yaml", "repos: {}\n")
    url = "https://github.com/acme/app/issues/7"
    run = workspace.doit("intake", f"url={url}", env={"GITHUB_TOKEN": ""})
    assert run.returncode != 0
    said = f"intake {url}: no token: set GITHUB_TOKEN (or name the variable that holds it: doit intake"
    assert said in run.out + run.err
