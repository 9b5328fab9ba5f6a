"""ruff-format, ty and tach gates on real tools in small trees: pass, a finding at its line, error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import plain_job, write_files

from pipelines import tools
from pipelines.config import GateSpec
from pipelines.gates import ruff_format, tach, ty

TACH_TOML = """\
source_roots = ["."]

[[modules]]
path = "a"
depends_on = []

[[modules]]
path = "b"
depends_on = []
"""


job = plain_job


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(tools, "BIN", str(tmp_path / "empty"))
    tools.version.cache_clear()
    yield
    tools.version.cache_clear()


def test_ruff_format_passes_formatted_code_and_reports_the_first_changed_line(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    write_files(tree, {"ok.py": "X = 1\n", "bad.py": "X = 1\n\n\nY=2\nZ = [1,\n 2]\n", "notes.txt": "a  b\n"})
    gate = GateSpec(name="ruff-format")
    assert ruff_format.check(gate, job(tree, ("ok.py", "notes.txt"))).status == "pass"
    assert ruff_format.check(gate, job(tree, ("notes.txt",))).status == "pass"
    report = ruff_format.check(gate, job(tree, ("ok.py", "bad.py")))
    assert report.status == "fail"
    assert [(f.file, f.line, f.rule, f.message) for f in report.findings] == [
        ("bad.py", 4, "format", "would be reformatted")
    ]
    assert report.command[:2] == ("ruff", "format")


def test_ruff_format_on_unparsable_code_is_an_error(tmp_path: Path) -> None:
    write_files(tmp_path / "t", {"bad.py": "def (\n"})
    assert ruff_format.check(GateSpec(name="ruff-format"), job(tmp_path / "t", ("bad.py",))).status == "error"


def test_ruff_format_missing_from_path_is_an_error(tmp_path: Path, no_tools: None) -> None:
    write_files(tmp_path / "t", {"ok.py": "X = 1\n"})
    report = ruff_format.check(GateSpec(name="ruff-format"), job(tmp_path / "t", ("ok.py",)))
    assert report.status == "error" and "not installed" in report.summary
    assert ruff_format.version(GateSpec(name="ruff-format")) is None


def test_ty_passes_sound_code_and_reports_a_type_error_at_its_line(tmp_path: Path) -> None:
    # a config above the repo that silences every rule must not hide findings
    write_files(tmp_path, {"pyproject.toml": '[tool.ty.rules]\nall = "ignore"\n'})
    tree = tmp_path / "t"
    write_files(tree, {"ok.py": "X: int = 1\n", "pkg/bad.py": 'import os\n\n\nX: int = "no"\n'})
    assert ty.check(GateSpec(name="ty"), job(tree, ("ok.py",))).status == "pass"
    assert ty.check(GateSpec(name="ty"), job(tree, ("README.md",))).status == "pass"
    report = ty.check(GateSpec(name="ty"), job(tree, ("ok.py", "pkg/bad.py")))
    assert report.status == "fail"
    assert [(f.file, f.line, f.rule) for f in report.findings] == [("pkg/bad.py", 4, "invalid-assignment")]
    assert report.findings[0].message.startswith("Object of type")
    assert report.command[:2] == ("ty", "check")


def test_ty_missing_from_path_is_an_error(tmp_path: Path, no_tools: None) -> None:
    write_files(tmp_path / "t", {"ok.py": "X: int = 1\n"})
    report = ty.check(GateSpec(name="ty"), job(tmp_path / "t", ("ok.py",)))
    assert report.status == "error" and report.summary == "ty is not installed; pip install 'shipyard[gates]'"
    assert ty.version(GateSpec(name="ty")) is None


def test_tach_passes_declared_dependencies_and_reports_an_undeclared_one(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    write_files(
        tree,
        {
            "tach.toml": TACH_TOML,
            "a/__init__.py": "",
            "a/use.py": '"""Uses b."""\n\nX = 1\n',
            "b/__init__.py": "",
            "b/core.py": "Y = 2\n",
        },
    )
    assert tach.check(GateSpec(name="tach"), job(tree, ("a/use.py",))).status == "pass"
    (tree / "a/use.py").write_text('"""Uses b."""\n\nfrom b.core import Y\n\nX = Y\n')
    report = tach.check(GateSpec(name="tach"), job(tree, ("a/use.py",)))
    assert report.status == "fail"
    assert [(f.file, f.line, f.rule, f.message) for f in report.findings] == [
        ("a/use.py", 3, "UndeclaredDependency", "Cannot use 'b.core.Y'. Module 'a' cannot depend on 'b'.")
    ]
    assert report.command == ("tach", "check", "--output", "json")


def test_tach_without_a_config_is_an_error_even_under_a_configured_folder(tmp_path: Path) -> None:
    write_files(tmp_path, {"tach.toml": TACH_TOML})  # tach alone would climb up to this one
    write_files(tmp_path / "t", {"a/__init__.py": "", "a/use.py": "from b.core import Y\n"})
    report = tach.check(GateSpec(name="tach"), job(tmp_path / "t", ("a/use.py",)))
    assert report.status == "error" and "add a tach.toml or drop the tach gate" in report.summary


def test_tach_missing_from_path_is_an_error(tmp_path: Path, no_tools: None) -> None:
    write_files(tmp_path / "t", {"tach.toml": TACH_TOML, "a/__init__.py": ""})
    report = tach.check(GateSpec(name="tach"), job(tmp_path / "t", ("a/__init__.py",)))
    assert report.status == "error" and "not installed" in report.summary
    assert tach.version(GateSpec(name="tach")) is None
