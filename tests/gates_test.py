"""Gates on real tools in small trees: pass, a finding at its file and line, error when missing."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import change_job, plain_job, write_files

from pipelines import tools
from pipelines.config import GateSpec
from pipelines.gates import command, pytest, ruff

job = plain_job


def test_ruff_passes_clean_code_and_reports_a_finding_at_its_line(tmp_path: Path) -> None:
    write_files(tmp_path / "t", {"ok.py": "X = 1\n", "bad.py": "import os\n\nY = 2\n"})
    assert ruff.check(GateSpec(name="ruff"), job(tmp_path / "t", ("ok.py",))).status == "pass"
    report = ruff.check(GateSpec(name="ruff"), job(tmp_path / "t", ("ok.py", "bad.py")))
    assert report.status == "fail"
    assert [(f.file, f.line, f.rule) for f in report.findings] == [("bad.py", 1, "F401")]


def test_ruff_judges_by_the_repo_config_not_the_folder_around_it(tmp_path: Path) -> None:
    # a config above the repo that would exclude everything must not hide findings
    write_files(tmp_path, {"pyproject.toml": "[tool.ruff]\nextend-exclude = ['*']\n"})
    write_files(tmp_path / "t", {"bad.py": "import os\n"})
    assert ruff.check(GateSpec(name="ruff"), job(tmp_path / "t", ("bad.py",))).status == "fail"


def test_ruff_missing_from_path_is_an_error_not_a_pass(tmp_path: Path, monkeypatch) -> None:
    write_files(tmp_path / "t", {"ok.py": "X = 1\n"})
    monkeypatch.setattr(tools, "BIN", str(tmp_path / "empty"))
    report = ruff.check(GateSpec(name="ruff"), job(tmp_path / "t", ("ok.py",)))
    assert report.status == "error" and "not installed" in report.summary


def test_pytest_reports_each_failing_test_with_file_and_line(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    write_files(
        tree,
        {
            "tests/test_a.py": "def test_ok():\n    pass\n\n\ndef test_broken():\n    assert 1 == 2\n",
        },
    )
    report = pytest.check(GateSpec(name="pytest"), job(tree, ()))
    assert report.status == "fail"
    assert [(f.file, f.line, f.rule) for f in report.findings] == [
        ("tests/test_a.py", 5, "failure:test_broken")
    ]
    assert report.summary == "1 of 2 tests failed"
    (tree / "tests/test_a.py").write_text("def test_ok():\n    pass\n")
    assert pytest.check(GateSpec(name="pytest"), job(tree, ())).status == "pass"


def test_pytest_with_no_tests_is_an_error(tmp_path: Path) -> None:
    write_files(tmp_path / "t", {"mod.py": "X = 1\n"})
    report = pytest.check(GateSpec(name="pytest"), job(tmp_path / "t", ()))
    assert report.status == "error" and report.summary == "no tests were collected"


def test_a_test_module_pytest_cannot_import_is_named_with_the_cause(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    write_files(
        tree,
        {
            "tests/test_a.py": "def test_ok():\n    pass\n",
            "tests/test_x.py": "import requestz\n\n\ndef test_x():\n    pass\n",
        },
    )
    report = pytest.check(GateSpec(name="pytest"), job(tree, ()))
    assert report.status == "error"
    assert report.summary == (
        "ImportError while importing test module tests/test_x.py: "
        "ModuleNotFoundError: No module named 'requestz'"
    )
    write_files(tree, {"tests/test_y.py": "def test_y(:\n    pass\n"})
    report = pytest.check(GateSpec(name="pytest"), job(tree, ()))
    assert report.summary.endswith("No module named 'requestz' (and 1 more module)")
    # told to go on past it, pytest runs the rest: the module is a finding, with its cause
    report = pytest.check(GateSpec(name="pytest", args=("--continue-on-collection-errors",)), job(tree, ()))
    assert report.status == "fail"
    assert [(f.file, f.message) for f in report.findings] == [
        ("tests/test_x.py", "ImportError while importing test module tests/test_x.py: "
         "ModuleNotFoundError: No module named 'requestz'"),
        ("tests/test_y.py", "cannot collect tests/test_y.py: SyntaxError: invalid syntax"),
    ]  # fmt: skip


def test_command_gate_exit_status_decides_and_a_timeout_is_an_error(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    tree.mkdir()
    assert command.check(GateSpec(name="c", kind="command", run="true"), job(tree, ())).status == "pass"
    failed = command.check(GateSpec(name="c", kind="command", run="echo broken; exit 4"), job(tree, ()))
    assert failed.status == "fail" and failed.findings[0].rule == "exit-4"
    assert failed.findings[0].message == "broken"
    slow = command.check(GateSpec(name="c", kind="command", run="sleep 5", timeout=1), job(tree, ()))
    assert slow.status == "error" and "timed out" in slow.summary
    missing = command.check(GateSpec(name="c", kind="command", run="no-such-tool-here"), job(tree, ()))
    assert missing.status == "error"


def test_gates_see_no_secret_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-secret")
    tree = tmp_path / "t"
    tree.mkdir()
    report = command.check(GateSpec(name="c", kind="command", run="env"), job(tree, ()))
    assert "glpat-secret" not in report.log and "GITLAB_TOKEN" not in report.log
    assert os.environ["GITLAB_TOKEN"] == "glpat-secret"


def test_changed_files_are_what_the_patch_leaves_in_place(tmp_path: Path) -> None:
    base = {"a.py": "x = 1\n", "gone.py": "y = 1\n", "same.py": "z\n"}
    job = change_job(tmp_path, base, {"a.py": "x = 2\n", "né.py": "w = 1\n"})
    (job.tree / "gone.py").unlink()
    assert sorted(job.changed) == ["a.py", "né.py"]
