"""The patch may not change how the gates in use judge it: their own files, and their tables in
the files they share with the project."""

from __future__ import annotations

from pipelines.gates import pytest as pytest_gate
from pipelines.gates import ruff, ty
from pipelines.guard.judged import refusals

GATES = [("ruff", ruff.CONFIGURED), ("pytest", pytest_gate.CONFIGURED)]
PYPROJECT = b"""\
[project]
name = "app"
version = "1.0"
dependencies = ["requests"]

[tool.ruff.lint]
select = ["E", "F"]

[tool.pytest.ini_options]
addopts = "-q"
"""


def judge(before: dict[str, bytes], after: dict[str, bytes], gates=GATES, allowed=()) -> list[str]:
    paths = sorted({*before, *after})
    found = refusals(gates, paths, before.get, after.get, allowed)
    return [r.reason for r in found]


def test_a_gates_own_files_at_any_depth_are_refused_naming_the_file() -> None:
    reasons = judge({}, {"tests/conftest.py": b"", "ruff.toml": b"", "pkg/pytest.ini": b""})
    assert reasons == [
        "pkg/pytest.ini configures the pytest gate: a patch is judged by the base's rules "
        "(allow_config: [pkg/pytest.ini] in the ticket lifts this)",
        "ruff.toml configures the ruff gate: a patch is judged by the base's rules "
        "(allow_config: [ruff.toml] in the ticket lifts this)",
        "tests/conftest.py configures the pytest gate: a patch is judged by the base's rules "
        "(allow_config: [tests/conftest.py] in the ticket lifts this)",
    ]


def test_a_gates_table_in_pyproject_is_refused_and_the_projects_own_tables_are_not() -> None:
    narrowed = PYPROJECT.replace(b'select = ["E", "F"]', b'select = ["E4"]')
    assert judge({"pyproject.toml": PYPROJECT}, {"pyproject.toml": narrowed}) == [
        "pyproject.toml changes [tool.ruff], which configures the ruff gate: a patch is judged by the "
        "base's rules (allow_config: [pyproject.toml] in the ticket lifts this)"
    ]
    dependency = PYPROJECT.replace(b'["requests"]', b'["requests", "httpx>=0.27"]')
    assert judge({"pyproject.toml": PYPROJECT}, {"pyproject.toml": dependency}) == []
    added = PYPROJECT + b"\n[tool.ty.rules]\nunresolved-import = 'ignore'\n"
    assert judge({"pyproject.toml": PYPROJECT}, {"pyproject.toml": added}) == []  # ty is not in use
    assert len(judge({"pyproject.toml": PYPROJECT}, {"pyproject.toml": added}, [("ty", ty.CONFIGURED)])) == 1


def test_a_nested_pyproject_that_brings_a_gate_table_is_refused() -> None:
    assert len(judge({}, {"sub/pyproject.toml": b"[tool.pytest.ini_options]\naddopts = '-p no:x'\n"})) == 1


def test_setup_cfg_and_tox_ini_sections() -> None:
    cfg = b"[metadata]\nname = app\n\n[tool:pytest]\naddopts = -q\n"
    loosened = cfg.replace(b"addopts = -q", b"addopts = -q -p no:cacheprovider --deselect tests")
    assert len(judge({"setup.cfg": cfg}, {"setup.cfg": loosened})) == 1
    renamed = cfg.replace(b"name = app", b"name = app2")
    assert judge({"setup.cfg": cfg}, {"setup.cfg": renamed}) == []
    tox = b"[testenv]\ndeps = pytest\n"
    assert judge({"tox.ini": tox}, {"tox.ini": tox + b"\n[pytest]\naddopts = --lf\n"}) != []
    assert judge({"tox.ini": tox}, {"tox.ini": tox.replace(b"pytest", b"pytest\n    requests")}) == []


def test_allow_config_lifts_it_for_the_named_files_only() -> None:
    after = {"tests/conftest.py": b"import pytest\n", "ruff.toml": b""}
    assert judge({}, after, allowed=("tests/conftest.py",)) == [
        "ruff.toml configures the ruff gate: a patch is judged by the base's rules "
        "(allow_config: [ruff.toml] in the ticket lifts this)"
    ]


def test_a_pyproject_that_no_longer_parses_is_refused() -> None:
    assert (
        "cannot be read as TOML" in judge({"pyproject.toml": PYPROJECT}, {"pyproject.toml": b"[tool.ruff"})[0]
    )
