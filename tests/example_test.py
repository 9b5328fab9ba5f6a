"""The bundled example ships end to end on a fresh copy of the project's own files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT, Workspace, git


def copy_example(workspace: Workspace) -> None:
    for name in ("repos.yaml", "tickets", "skills", "examples"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workspace.root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, workspace.root / name)


def test_example_ships_three_merge_requests_then_reruns_nothing(workspace: Workspace) -> None:
    copy_example(workspace)
    first = workspace.doit("ship")
    assert first.returncode == 0, first.out + first.err
    for repo in ("textkit", "headline", "wordcount"):
        mr = workspace.state("EX-1", repo, "mr.json").read_text()
        assert '"state": "open"' in mr
        for gate in ("ruff", "pytest"):
            assert '"status": "pass"' in workspace.state("EX-1", repo, "gates", f"{gate}.json").read_text()
        remote = workspace.state("remotes", f"{repo}.git")
        branch = "shipyard/EX-1-rename-collapse-spaces-to-squeeze-spaces"
        files = git(remote, "ls-tree", "-r", "--name-only", branch).split()
        text = "".join(git(remote, "show", f"{branch}:{f}") for f in files if f.endswith(".py"))
        assert "squeeze_spaces" in text and "collapse_spaces" not in text
    assert "EX-1" in first.out and "ruff, pytest: pass" in first.out  # the closing table
    report = workspace.state("EX-1", "report.md").read_text()
    assert "3 merge request(s) opened" in report
    assert report.count("- Environment: none (shipyard's own Python).") == 3  # `env: none` in repos.yaml

    second = workspace.doit("ship")
    assert second.returncode == 0
    assert second.executed == []


def test_user_checkout_is_never_written(workspace: Workspace, tmp_path: Path) -> None:
    copy_example(workspace)
    # point textkit at a user's own (non-bare) checkout instead of a seeded remote
    checkout = tmp_path / "my-textkit"
    shutil.copytree(ROOT / "examples/repos/textkit", checkout)
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "mine")
    before = subprocess.run(
        ["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True
    ).stdout
    refs = git(checkout, "for-each-ref")
    text = (workspace.root / "repos.yaml").read_text()
    text = text.replace(
        "url: state/remotes/textkit.git\n    seed: examples/repos/textkit", f"url: {checkout}"
    )
    (workspace.root / "repos.yaml").write_text(text)
    run = workspace.doit("ship")
    assert run.returncode != 0  # textkit's merge request cannot be pushed there; the others ship
    assert f"EX-1/textkit: mr: {checkout} is a checkout with a work tree" in run.out + run.err
    assert git(checkout, "for-each-ref") == refs  # no branch pushed into it
    report = workspace.state("EX-1", "report.md").read_text()  # and report.md says why
    assert "- No merge request: its step failed: EX-1/textkit: mr: " in report
    assert git(checkout, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert "collapse_spaces" in (checkout / "textkit/__init__.py").read_text()
    after = subprocess.run(
        ["git", "status", "--porcelain"], cwd=checkout, capture_output=True, text=True
    ).stdout
    assert before == after == ""


def test_a_ticket_naming_only_headline_tests_it_against_textkit_at_its_pinned_base(
    workspace: Workspace,
) -> None:
    copy_example(workspace)
    workspace.write(
        "tickets/EX-2.md",
        "---\nid: EX-2\ntitle: Say what headline does\nrepos: [headline]\n"
        'agent: {kind: command, run: "echo Tidies headlines. >> README.md"}\n---\nDocument it.\n',
    )
    run = workspace.doit("ship:EX-2")
    assert run.returncode == 0, run.out + run.err
    plan = json.loads(workspace.state("EX-2", "plan.json").read_text())
    assert [r["name"] for r in plan["repos"]] == ["headline"] and list(plan["uses"]) == ["textkit"]
    pytest_report = json.loads(workspace.state("EX-2", "headline", "gates", "pytest.json").read_text())
    assert (pytest_report["status"], pytest_report["summary"]) == ("pass", "2 tests passed")
    built = workspace.doit("env:headline")  # by hand: with `env: none`, shipyard's own Python
    assert built.returncode == 0 and "headline: env at" in built.out and "none" in built.out
