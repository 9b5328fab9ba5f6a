"""Each repo's own environment, end to end: its gates run its tests with its own dependencies, on
the tree being judged, and a second ticket on the same base builds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Workspace, commit_to
from envs_test import wheel

ONE = {
    "requirements.txt": "greet==1.0\n",
    "one/__init__.py": "import greet\n\nWORD = greet.HELLO\n",
    "tests/test_one.py": "from one import WORD\n\n\ndef test_word():\n    assert WORD == 'one'\n",
}
TWO = {
    "requirements-test.txt": "greet==2.0\npytest\n",
    "two/__init__.py": "import greet\n\nWORD = greet.HELLO\n",
    "tests/test_two.py": "from two import WORD\n\n\ndef test_word():\n    assert WORD == 'two'\n",
}
SRC = {  # a src layout whose project is never installed: the test sees the patched tree
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "0"\ndependencies = ["greet==2.0"]\n',
    "src/pkg/__init__.py": "VALUE = 1\n",
    "tests/test_pkg.py": "from pkg import VALUE\n\n\ndef test_value():\n    assert VALUE == 2\n",
}
TOUCH = "echo >> README.md; sed -i 's/VALUE = 1/VALUE = 2/' src/pkg/__init__.py 2>/dev/null; true"


def setup(ws: Workspace, index: Path, repos: dict[str, dict[str, str]], ticket: str = "T-1") -> None:
    wheel(index, "greet", "1.0", "HELLO = 'one'\n")
    wheel(index, "greet", "2.0", "HELLO = 'two'\n")
    lines = ["defaults:", "  gates: [pytest]", "repos:"]
    for name, files in repos.items():
        lines.append(f"  {name}: {{url: {ws.remote(name, {**files, 'README.md': name})}}}")
    ws.write("repos.yaml", "\n".join(lines) + "\n")
    write_ticket(ws, ticket, list(repos))


def write_ticket(ws: Workspace, ticket: str, repos: list[str]) -> None:
    agent = json.dumps({"kind": "command", "run": TOUCH})
    ws.write(
        f"tickets/{ticket}.md", f"---\nid: {ticket}\ntitle: Touch\nrepos: {repos}\nagent: {agent}\n---\nGo.\n"
    )


def report(ws: Workspace, repo: str, ticket: str = "T-1") -> dict:
    return json.loads(ws.state(ticket, repo, "gates", "pytest.json").read_text())


def test_each_repo_tests_with_its_own_pins_and_a_second_ticket_builds_nothing(
    workspace: Workspace, package_index: Path
) -> None:
    setup(workspace, package_index, {"one": ONE, "two": TWO, "pkg": SRC})
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    assert [report(workspace, r)["summary"] for r in ("one", "two", "pkg")] == ["1 test passed"] * 3
    built = {p: p.stat().st_mtime_ns for p in workspace.state("envs").glob("*/*.json")}
    assert sorted(p.parent.name for p in built) == ["one", "pkg", "two"]

    write_ticket(workspace, "T-2", ["one", "two", "pkg"])
    again = workspace.doit("ship")
    assert again.returncode == 0, again.out + again.err
    assert "gate:T-2/one/pytest" in again.executed
    assert {p: p.stat().st_mtime_ns for p in workspace.state("envs").glob("*/*.json")} == built


def test_a_broken_requirement_stops_its_repo_in_one_line_and_the_others_ship(
    workspace: Workspace, package_index: Path
) -> None:
    broken = {**ONE, "requirements.txt": "no-such-package==9\n"}
    setup(workspace, package_index, {"one": ONE, "bad": broken})
    run = workspace.doit("ship")
    assert run.returncode != 0
    said = [
        line for line in (run.out + run.err).splitlines() if "T-1/bad: gate pytest: error: the env" in line
    ]
    assert said and "no-such-package" in said[0], run.out + run.err
    assert report(workspace, "bad")["status"] == "error"
    assert json.loads(workspace.state("T-1", "one", "mr.json").read_text())["state"] == "open"


def test_a_changed_requirement_builds_a_new_env_and_reruns_only_that_repos_gate(
    workspace: Workspace, package_index: Path
) -> None:
    setup(workspace, package_index, {"one": ONE, "two": TWO})
    assert workspace.doit("ship").returncode == 0
    commit_to(workspace.remotes / "one.git", {"requirements.txt": "greet==2.0\n"})
    assert workspace.doit("forget", "plan:T-1").returncode == 0  # re-plan: bases move to the tips
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    assert "gate:T-1/one/pytest" in run.executed and "gate:T-1/two/pytest" not in run.executed
    assert len(list(workspace.state("envs", "one").glob("*.json"))) == 2
    # one's test wants greet 1.0 and the new base brings 2.0: a failure of the base, not the patch
    assert [f["rule"] for f in report(workspace, "one")["pre_existing"]] == ["failure:test_word"]
