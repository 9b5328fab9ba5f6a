"""Gates judge what a patch adds: findings already on the base are pre-existing, once computed."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Workspace, git

BASE = {"app.py": "import os\n\n\ndef old_api():\n    return 1\n", "other.py": "import sys\n"}
SED = "sed -i 's/old_api/new_api/g' app.py"


def setup(ws: Workspace, strict: bool = False) -> None:
    remote = ws.remote("app", BASE)
    gate = "{name: ruff, strict: true}" if strict else "ruff"
    ws.write("repos.yaml", f"defaults:\n  agent: {{kind: command, run: \"{SED}\"}}\n  gates: [{gate}]\n"
                           f"repos:\n  app: {{url: {remote}}}\n")  # fmt: skip
    ticket = "---\nid: {id}\ntitle: Rename old_api\nrepos: [app]\n---\nRename `old_api`.\n"
    ws.write("tickets/T-1.md", ticket.format(id="T-1"))


def report(ws: Workspace, ticket: str = "T-1") -> dict:
    return json.loads(ws.state(ticket, "app", "gates", "ruff.json").read_text())


def test_a_finding_already_on_the_base_does_not_fail_the_gate(workspace: Workspace) -> None:
    setup(workspace)
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    ruff = report(workspace)
    assert ruff["status"] == "pass" and ruff["findings"] == []
    assert [(f["file"], f["line"], f["rule"]) for f in ruff["pre_existing"]] == [("app.py", 1, "F401")]
    assert (
        "| ruff | pass | 0 | 1 |" in json.loads(workspace.state("T-1", "app", "mr.json").read_text())["body"]
    )
    assert "0 new findings, 1 pre-existing" in workspace.state("T-1", "report.md").read_text()


def test_strict_mode_counts_every_finding(workspace: Workspace) -> None:
    setup(workspace, strict=True)
    run = workspace.doit("ship")
    assert run.returncode != 0
    ruff = report(workspace)
    assert ruff["status"] == "fail"
    assert [(f["file"], f["line"], f["rule"]) for f in ruff["findings"]] == [("app.py", 1, "F401")]
    assert not workspace.state("T-1", "app", "mr.json").exists()


def test_a_new_finding_fails_even_beside_old_ones(workspace: Workspace) -> None:
    setup(workspace)
    text = workspace.root.joinpath("repos.yaml").read_text()
    workspace.write("repos.yaml", text.replace(SED, SED + " && echo 'import json' >> app.py"))
    run = workspace.doit("ship")
    assert run.returncode != 0
    ruff = report(workspace)
    assert ruff["status"] == "fail" and ruff["summary"] == "1 new finding, 1 pre-existing"
    assert [(f["file"], f["line"], f["rule"]) for f in ruff["findings"]] == [("app.py", 6, "F401")]


def test_a_second_ticket_on_the_same_base_reuses_the_baseline(workspace: Workspace) -> None:
    setup(workspace)
    assert workspace.doit("ship").returncode == 0
    base = json.loads(workspace.state("T-1", "plan.json").read_text())["repos"][0]["base"]
    cached = workspace.state("baselines", "app", base, "ruff.json")
    first = cached.stat().st_mtime_ns
    workspace.write("tickets/T-2.md", "---\nid: T-2\ntitle: Again\nrepos: [app]\n---\nRename `old_api`.\n")
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    assert report(workspace, "T-2")["pre_existing"]
    assert cached.stat().st_mtime_ns == first  # not run again: one baseline run for both tickets


def ship_a_secret(ws: Workspace, line: str) -> tuple[Path, object]:
    remote = ws.remote("app", {"settings.py": "REGION = 'eu'\n"})
    plant = f"printf '%s\\\\n' \\\"{line}\\\" >> settings.py"
    repos = f'defaults:\n  agent: {{kind: command, run: "{plant}"}}\n  gates: [secrets]\n'
    ws.write("repos.yaml", repos + f"repos:\n  app: {{url: {remote}}}\n")
    ws.write("tickets/T-1.md", "---\nid: T-1\ntitle: Add a key\nrepos: [app]\n---\nAdd the key.\n")
    return remote, ws.doit("ship")


def test_a_password_added_by_the_patch_fails_secrets_and_nothing_is_pushed(workspace: Workspace) -> None:
    remote, run = ship_a_secret(workspace, "DB_PASSWORD = 'q7Xz9vLm2Rk8Wp4T'")
    assert run.returncode != 0
    assert "T-1/app: gate secrets: fail" in run.out + run.err
    report = json.loads(workspace.state("T-1", "app", "gates", "secrets.json").read_text())
    assert [(f["file"], f["line"]) for f in report["findings"]] == [("settings.py", 2)]
    assert "q7Xz9vLm2Rk8Wp4T" not in json.dumps(report)
    assert not workspace.state("T-1", "app", "mr.json").exists()
    assert git(remote, "for-each-ref", "--format=%(refname:short)") == "main"


def test_an_aws_key_is_stopped_before_any_gate_and_nothing_is_pushed(workspace: Workspace) -> None:
    # the guard's check of the finished patch knows AWS keys: the change never reaches the gates
    remote, run = ship_a_secret(workspace, "KEY = 'AKIAIOSFODNN7EXAMPLF'")
    assert run.returncode != 0
    assert "T-1/app: patch: the guard refused it: settings.py adds what looks like a secret" in run.out
    refusal = json.loads(workspace.state("T-1", "app", "guard.jsonl").read_text())
    assert refusal["rule"] == "secret" and "AKIA" not in refusal["reason"]
    assert not workspace.state("T-1", "app", "gates", "secrets.json").exists()
    assert git(remote, "for-each-ref", "--format=%(refname:short)") == "main"
