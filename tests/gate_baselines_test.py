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


def ship(ws: Workspace, gate: str, strict: bool):
    remote = ws.remote("app", CASES[gate])
    spec = f"{{name: {gate}, strict: {str(strict).lower()}}}"
    sed = "sed -i 's/^X = 1$/X = 2/' a/app.py"
    ws.write("repos.yaml", f'defaults:\n  agent: {{kind: command, run: "{sed}"}}\n  gates: [{spec}]\n'
                           f"repos:\n  app: {{url: {remote}}}\n")  # fmt: skip
    ws.write("tickets/T-1.md", "---\nid: T-1\ntitle: Bump X\nrepos: [app]\n---\nSet X to 2.\n")
    run = ws.doit("ship")
    return run, json.loads(ws.state("T-1", "app", "gates", f"{gate}.json").read_text())


@pytest.mark.parametrize("gate", CASES)
def test_baseline_mode_passes_a_finding_already_on_the_base(workspace: Workspace, gate: str) -> None:
    run, report = ship(workspace, gate, strict=False)
    assert run.returncode == 0, run.out + run.err
    assert report["status"] == "pass" and report["findings"] == []
    assert len(report["pre_existing"]) == 1, report


@pytest.mark.parametrize("gate", CASES)
def test_strict_mode_fails_on_it(workspace: Workspace, gate: str) -> None:
    run, report = ship(workspace, gate, strict=True)
    assert run.returncode != 0
    assert report["status"] == "fail" and len(report["findings"]) == 1, report
    assert not workspace.state("T-1", "app", "mr.json").exists()
