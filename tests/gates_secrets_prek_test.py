"""The prek and secrets gates on real git trees: a base commit, then a change held in the index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import change_job

from pipelines import tools
from pipelines.baselines import judge
from pipelines.config import GateSpec
from pipelines.gates import GateJob, prek, secrets

KEY = "AKIA" + "Q3ZL7RM2XW5TNB8P"  # built here so this file holds no key itself
PREK = GateSpec(name="prek")
SECRETS = GateSpec(name="secrets")
CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: no-todo
        name: no TODO
        language: system
        entry: sh -c 'if grep -Hn TODO "$@"; then exit 1; fi' --
        types: [python]
  - repo: builtin
    hooks:
      - id: trailing-whitespace
      - id: check-yaml
"""


def change(tmp_path: Path, base: Mapping[str, str], changed: Mapping[str, str]) -> GateJob:
    """A worktree at a commit holding `base`, with `changed` written on top of it."""
    return change_job(tmp_path, dict(base), dict(changed))


def found(report) -> list[tuple[str, int | None, str]]:
    return [(f.file, f.line, f.rule) for f in report.findings]


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(tools, "BIN", str(tmp_path / "empty"))
    tools.version.cache_clear()
    yield
    tools.version.cache_clear()


def test_prek_passes_a_clean_change_offline_and_keeps_its_cache_in_home(tmp_path: Path) -> None:
    job = change(tmp_path, {".pre-commit-config.yaml": CONFIG, "a.py": "X = 1\n"}, {"a.py": "X = 2\n"})
    report = prek.check(PREK, job)
    assert (report.status, report.summary) == ("pass", "clean"), report.log
    assert report.command == ("prek", "run", "--color", "never", "--files", "a.py")
    assert (tmp_path / "home/.cache/prek").is_dir()
    assert job.mirror and not list(job.mirror.glob("**/hooks/pre-commit"))
    assert (prek.version(PREK) or "").startswith("prek ")


def test_prek_reports_a_failing_local_hook_at_the_file_and_line_it_prints(tmp_path: Path) -> None:
    base = {".pre-commit-config.yaml": CONFIG, "a.py": "X = 1\n", "b.py": "Y = 1\n"}
    job = change(tmp_path, base, {"a.py": "X = 1\n\n# TODO: later\n", "b.py": "Y = 1   \n"})
    report = prek.check(PREK, job)
    assert report.status == "fail", report.log
    assert found(report) == [("a.py", 3, "no-todo"), ("b.py", None, "trailing-whitespace")]
    assert [f.message for f in report.findings] == ["# TODO: later", "Fixing b.py"]
    assert report.summary == "hooks failed: no-todo, trailing-whitespace"


def test_prek_finding_already_on_the_base_is_pre_existing_though_its_line_moved(tmp_path: Path) -> None:
    base = {".pre-commit-config.yaml": CONFIG, "a.py": "# TODO old\n"}
    before = change(tmp_path / "base", base, {})
    on_base = prek.check(PREK, replace(before, changed=(".pre-commit-config.yaml", "a.py")))
    assert found(on_base) == [("a.py", 1, "no-todo")]
    report = prek.check(PREK, change(tmp_path, base, {"a.py": "X = 1\n# TODO old\n"}))
    assert found(report) == [("a.py", 2, "no-todo")]
    assert judge(report, list(on_base.findings)).status == "pass"


def test_prek_a_failing_hook_that_names_no_file_is_one_finding(tmp_path: Path) -> None:
    hook = "{id: never, name: never, language: system, entry: 'false'}"
    config = f"repos:\n  - repo: local\n    hooks:\n      - {hook}\n"
    job = change(tmp_path, {".pre-commit-config.yaml": config, "a.py": "X = 1\n"}, {"a.py": "X = 2\n"})
    report = prek.check(PREK, job)
    assert report.status == "fail"
    assert [(f.file, f.line, f.rule, f.message) for f in report.findings] == [
        ("", None, "never", "exit code: 1")
    ]


def test_prek_pygrep_hook_fails_with_uv_and_is_an_error_naming_uv_without(tmp_path: Path) -> None:
    config = (
        "repos:\n  - repo: local\n    hooks:\n      - {id: todo, name: todo, language: pygrep, entry: TODO}\n"
    )
    job = change(tmp_path, {".pre-commit-config.yaml": config, "a.py": "X = 1\n"}, {"a.py": "# TODO\n"})
    report = prek.check(PREK, job)
    if tools.which("uv"):  # prek finds python through uv; offline it can only use an installed one
        assert (report.status, found(report)) == ("fail", [("a.py", 1, "todo")]), report.log
    else:
        assert report.status == "error" and "pip install uv" in report.summary, report.log


def test_prek_an_unreachable_hook_repo_is_an_error_naming_it(tmp_path: Path) -> None:
    url = "https://hooks.invalid/pre-commit-hooks"
    config = f"repos:\n  - repo: {url}\n    rev: v1.0.0\n    hooks:\n      - id: check-yaml\n"
    job = change(tmp_path, {".pre-commit-config.yaml": config, "a.py": "X = 1\n"}, {"a.py": "X = 2\n"})
    report = prek.check(PREK, job)
    assert report.status == "error" and url in report.summary, report.log
    assert str(tmp_path) not in report.summary


def test_prek_without_a_config_is_an_error_and_without_a_change_a_pass(tmp_path: Path) -> None:
    job = change(tmp_path, {"a.py": "X = 1\n"}, {"a.py": "X = 2\n"})
    report = prek.check(PREK, job)
    assert report.status == "error"
    assert report.summary == "the repo has no .pre-commit-config.yaml; add one or drop the prek gate"
    (job.tree / ".pre-commit-config.yaml").write_text(CONFIG)
    assert prek.check(PREK, replace(job, changed=())).status == "pass"


def test_prek_missing_from_path_is_an_error(tmp_path: Path, no_tools) -> None:
    job = change(tmp_path, {".pre-commit-config.yaml": CONFIG, "a.py": "X = 1\n"}, {"a.py": "X = 2\n"})
    report = prek.check(PREK, job)
    assert report.status == "error" and "not installed" in report.summary
    assert prek.version(PREK) is None


def test_secrets_passes_a_change_that_adds_no_secret(tmp_path: Path) -> None:
    job = change(tmp_path, {"a.py": "X = 1\n"}, {"a.py": "X = 2\nY = 3\n"})
    report = secrets.check(SECRETS, job)
    assert (report.status, report.findings) == ("pass", ()), report.log
    assert secrets.version(SECRETS)


def test_secrets_reports_an_added_key_at_its_real_line_and_never_shows_it(tmp_path: Path) -> None:
    base = {"conf/a.py": "A = 1\nB = 2\nC = 3\nD = 4\n"}
    changed = {"conf/a.py": f"A = 1\nNEW = 0\nC = 3\nD = 4\nKEY = '{KEY}'\n", "né.py": f"K = '{KEY}'\n"}
    report = secrets.check(SECRETS, change(tmp_path, base, changed))
    assert report.status == "fail", report.summary
    rule = "aws-access-token" if tools.which("gitleaks") else "AWS Access Key"
    assert found(report) == [("conf/a.py", 5, rule), ("né.py", 1, rule)]
    assert {f.message for f in report.findings} == {"a secret is added here"}
    shown = [report.summary, report.log, *report.command, *(str(f) for f in report.findings)]
    assert not any(KEY in text or KEY[4:] in text for text in shown)


def test_secrets_ignores_a_key_already_on_the_base(tmp_path: Path) -> None:
    base = {"a.py": f"X = 1\nKEY = '{KEY}'\n"}
    report = secrets.check(
        SECRETS, change(tmp_path, base, {"a.py": f"X = 2\nKEY = '{KEY}'\n", "b.py": "Y\n"})
    )
    assert (report.status, report.findings) == ("pass", ()), report.log


def test_secrets_with_no_scanner_installed_is_an_error(tmp_path: Path, no_tools) -> None:
    job = change(tmp_path, {"a.py": "X = 1\n"}, {"a.py": f"KEY = '{KEY}'\n"})
    report = secrets.check(SECRETS, job)
    assert report.status == "error" and "pip install detect-secrets" in report.summary
    assert secrets.version(SECRETS) is None
