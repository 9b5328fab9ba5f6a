"""Every gate, end to end: a finding already on the base passes in baseline mode, fails in strict."""

from __future__ import annotations

import json

import pytest
from conftest import Workspace

TACH_TOML = 'source_roots = ["."]\n\n[[modules]]\npath = "a"\ndepends_on = []\n\n' \
            '[[modules]]\npath = "b"\ndepends_on = []\n'  # fmt: skip
PREK = """repos:
  - repo: local
    hooks:
      - id: no-todo
        name: no TODO
        language: pygrep
        entry: TODO
        types: [python]
"""
# gate -> (files of the base, each with a finding; a file the patch edits as `X = 1` -> `X = 2`)
CASES = {
    "ruff": {"a/app.py": "import os\n\nX = 1\n"},
    "ruff-format": {"a/app.py": "Y=1\nX = 1\n"},
    "ty": {"a/app.py": "Y: int = 'one'\nX = 1\n"},
    "tach": {
        "tach.toml": TACH_TOML,
        "a/__init__.py": "",
        "a/app.py": "from b.core import Y\n\nX = 1\n",
        "b/__init__.py": "",
        "b/core.py": "Y = 2\n",
    },  # fmt: skip
    "prek": {".pre-commit-config.yaml": PREK, "a/app.py": "# TODO: tidy\nX = 1\n"},
    "pytest": {"a/app.py": "X = 1\n", "tests/test_app.py": "def test_known_broken():\n    assert 1 == 2\n"},
}


def settings(ws: Workspace, remote: object, gate: str, strict: bool) -> None:
    spec = f"{{name: {gate}, strict: {str(strict).lower()}}}"
    sed = "sed -i 's/^X = 1$/X = 2/' a/app.py"
    ws.write("repos.yaml", f'defaults:\n  agent: {{kind: command, run: "{sed}"}}\n  gates: [{spec}]\n'
                           f"repos:\n  app: {{url: {remote}}}\n")  # fmt: skip


def report(ws: Workspace, gate: str) -> dict:
    return json.loads(ws.state("T-1", "app", "gates", f"{gate}.json").read_text())


@pytest.mark.parametrize("gate", CASES)
def test_baseline_mode_passes_a_finding_already_on_the_base_and_strict_mode_fails_on_it(
    workspace: Workspace, gate: str
) -> None:
    remote = workspace.remote("app", CASES[gate])
    settings(workspace, remote, gate, strict=False)
    workspace.write("tickets/T-1.md", "---\nid: T-1\ntitle: Bump X\nrepos: [app]\n---\nSet X to 2.\n")
    run = workspace.doit("ship")
    assert run.returncode == 0, run.out + run.err
    assert report(workspace, gate)["status"] == "pass" and report(workspace, gate)["findings"] == []
    assert len(report(workspace, gate)["pre_existing"]) == 1, report(workspace, gate)

    settings(workspace, remote, gate, strict=True)  # the same patch, judged on every finding
    run = workspace.doit("ship")
    assert run.returncode != 0 and f"gate:T-1/app/{gate}" in run.executed
    assert report(workspace, gate)["status"] == "fail" and len(report(workspace, gate)["findings"]) == 1
    assert "mr:T-1/app" not in run.executed  # the merge request stays as the passing patch left it
