"""The patch step's check: patches that try to change how they are judged are refused, each in one
line naming the file, whatever git would quote or treat specially; the real fix alone ships."""

from __future__ import annotations

import json

from conftest import Workspace, git

PYPROJECT = """\
[project]
name = "lib"
version = "1.0"
dependencies = []

[tool.ruff.lint]
select = ["E", "F"]

[tool.pytest.ini_options]
addopts = "-q"
"""
BASE = {
    "pyproject.toml": PYPROJECT,
    "setup.cfg": "[metadata]\nname = lib\n",
    "lib/__init__.py": "def add(a, b):\n    return a - b\n",
    "tests/test_lib.py": "from lib import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    "tests/test_é.py": "def test_accent():\n    assert 'é'.upper() == 'É'\n",
}
FIX = "sed -i 's/a - b/a + b/' lib/__init__.py"
# the real fix, with a lint finding and a failing test, and one way of changing how it is judged
BREAK = (
    "printf 'import os\\n' >> lib/__init__.py; "
    "printf '\\n\\ndef test_new():\\n    assert False\\n' >> tests/test_lib.py"
)
TAMPER = {
    "ruff-table": 'sed -i \'s/"E", "F"/"E4"/\' pyproject.toml',
    "pytest-table": (
        'sed -i \'s/addopts = "-q"/addopts = "-q --deselect tests\\/test_lib.py::test_new"/\' pyproject.toml'
    ),
    "conftest": (
        "printf 'def pytest_runtest_makereport(item, call):\\n    call.excinfo = None\\n' > tests/conftest.py"
    ),
    "ruff-toml": "printf '[lint]\\nselect = []\\n' > ruff.toml",
    "setup-cfg": "printf '\\n[tool:pytest]\\naddopts = -p no:python\\n' >> setup.cfg",
    "quoted-workflow": "mkdir -p .github/workflows && printf 'on: push\\n' > .github/workflows/ci-é.yml",
    "deleted-quoted-test": "rm 'tests/test_é.py'",
    "gitattributes": "printf '* filter=lfs diff=lfs merge=lfs\\n' > .gitattributes",
    "gitlink": (
        "unset GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES; "
        "mkdir -p vendor/x && cd vendor/x && git init -q && echo x > x && git add x && "
        "git -c user.name=a -c user.email=a@b commit -qm x; cd ../.. && "
        "printf '[submodule \"x\"]\\n\\tpath = vendor/x\\n\\turl = https://example.com/x.git\\n' "
        "> .gitmodules"
    ),
    "symlink-out": "ln -s /etc/passwd tests/fixture.txt && ln -s ../../../repos.yaml lib/config.yaml",
}
EXPECTED = {  # the refusal's rule, and the file its line names
    "ruff-table": ("gate-config", "pyproject.toml changes [tool.ruff]"),
    "pytest-table": ("gate-config", "pyproject.toml changes [tool.pytest]"),
    "conftest": ("gate-config", "tests/conftest.py configures the pytest gate"),
    "ruff-toml": ("protected-path", "ruff.toml"),
    "setup-cfg": ("gate-config", "setup.cfg changes [tool:pytest]"),
    "quoted-workflow": ("protected-path", ".github/workflows/ci-é.yml"),
    "deleted-quoted-test": ("deleted-test", "tests/test_é.py"),
    "gitattributes": ("gitattributes", ".gitattributes"),
    "gitlink": ("gitlink", "vendor/x"),
    "symlink-out": ("symlink-out", "tests/fixture.txt is a link out of the tree (to /etc/passwd)"),
}


def test_patches_that_change_how_they_are_judged_are_refused_and_the_fix_alone_ships(
    workspace: Workspace,
) -> None:
    repos, runs = [], {}
    for case, tamper in TAMPER.items():
        runs[case] = f"{FIX}; {BREAK}; {tamper}"
    runs["fix-only"] = FIX
    runs["dependency"] = (
        f"{FIX}; sed -i 's/dependencies = \\[\\]/dependencies = [\"requests\"]/' pyproject.toml"
    )
    for case, run in runs.items():
        remote = workspace.remote(case, BASE)
        script = workspace.write(f"codemods/{case}.sh", run + "\n")
        agent = {"kind": "command", "run": f"sh {script}", "inputs": [f"codemods/{case}.sh"]}
        repos.append(f"  {case}: {{url: {remote}, agent: {json.dumps(agent)}}}")
    workspace.write(
        "repos.yaml", "defaults:\n  env: none\n  gates: [ruff, pytest]\nrepos:\n" + "\n".join(repos) + "\n"
    )
    names = ", ".join(runs)
    workspace.write("tickets/T-1.md", f"---\nid: T-1\ntitle: Fix add\nrepos: [{names}]\n---\nFix add.\n")

    run = workspace.doit("ship")

    assert run.returncode != 0
    for case, (rule, named) in EXPECTED.items():
        line = next(line for line in run.out.splitlines() if line.startswith(f"T-1/{case}: patch: "))
        assert "the guard refused it" in line, (case, line)
        refusals = [
            json.loads(x) for x in workspace.state("T-1", case, "guard.jsonl").read_text().splitlines()
        ]
        assert any(r["rule"] == rule and named in r["reason"] for r in refusals), (case, refusals)
        assert not workspace.state("T-1", case, "mr.json").exists()
        assert git(workspace.remotes / f"{case}.git", "for-each-ref", "--format=%(refname:short)") == "main"
        assert "root:x:0:0" not in "".join(
            p.read_text(errors="replace") for p in workspace.state().rglob("*.json")
        )
    for case in ("fix-only", "dependency"):
        assert json.loads(workspace.state("T-1", case, "mr.json").read_text())["state"] == "open", run.out
