"""Repo environments, built by real uv from a folder of wheels the tests make: no network."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import commit_to, make_remote, repack, write_wheel

from pipelines import envs, git
from pipelines.errors import StepError


def wheel(folder: Path, name: str, version: str, code: str, requires: tuple[str, ...] = ()) -> None:
    """A pure-Python wheel of one module `name`, as a build backend would write it."""
    info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}.py": code.encode(),
        f"{info}/METADATA": meta.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    write_wheel(folder / f"{name}-{version}-py3-none-any.whl", info, files)


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A find-links folder of wheels, and a pip configured to use it alone (as a user's could be)."""
    folder = tmp_path / "wheels"
    wheel(folder, "greet", "1.0", "HELLO = 'one'\n")
    wheel(folder, "greet", "2.0", "HELLO = 'two'\n")
    wheel(folder, "shout", "1.0", "import greet\nLOUD = greet.HELLO.upper()\n", requires=("greet",))
    wheel(folder, "loud", "1.0", "X = 'loud'\n")
    for name in [n for n in os.environ if n.startswith(("PIP_", "UV_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    return folder


def mirror_of(tmp_path: Path, name: str, files: dict[str, str]) -> tuple[Path, str]:
    remote = make_remote(tmp_path / f"{name}.git", files)
    mirror = tmp_path / "state" / "mirrors" / f"{name}.git"
    git.ensure_mirror(mirror, str(remote))
    base = git.rev(mirror, "refs/remotes/origin/main")
    assert base
    return mirror, base


def run_in(env: envs.Env, code: str) -> str:
    return subprocess.run([env.python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_requirements_build_once_and_each_repo_keeps_its_own_pins(tmp_path: Path, index: Path) -> None:
    state = tmp_path / "state"
    one, one_base = mirror_of(tmp_path, "one", {"requirements.txt": "greet==1.0\n", "one.py": ""})
    two, two_base = mirror_of(tmp_path, "two", {"requirements-dev.txt": "shout\ngreet==2.0\n", "two.py": ""})
    first = envs.ensure(state, one, "one", one_base, "auto")
    second = envs.ensure(state, two, "two", two_base, "auto")
    assert first and second and first.how == second.how == "requirements"
    assert run_in(first, "import greet; print(greet.HELLO)") == "one"
    assert run_in(second, "import shout; print(shout.LOUD)") == "TWO"
    record = first.root.with_suffix(".json")
    built = record.read_text()
    again = envs.ensure(state, one, "one", one_base, "auto")  # a second ticket on the same base
    assert again == first and record.read_text() == built  # no second build
    assert not first.root.with_suffix(".src").exists()  # the base's tree is not kept


def test_a_pyproject_brings_its_test_extra_and_dev_group(tmp_path: Path, index: Path) -> None:
    pyproject = """\
[project]
name = "app"
version = "0"
dependencies = ["greet"]
[project.optional-dependencies]
test = ["greet==2.0"]
docs = ["no-such-docs-tool"]
[dependency-groups]
dev = ["shout"]
"""
    files = {"pyproject.toml": pyproject, "app.py": "", "test-requirements.txt": "loud\n"}
    mirror, base = mirror_of(tmp_path, "app", files)
    env = envs.ensure(tmp_path / "state", mirror, "app", base, "auto")
    assert env and env.how == "pyproject.toml"
    assert run_in(env, "import loud; print(loud.X)") == "loud"  # the test requirements beside it
    assert run_in(env, "import shout; print(shout.LOUD)") == "TWO"
    assert run_in(env, "import importlib.util as u; print(u.find_spec('app'))") == "None"  # not the project


def test_a_uv_lock_is_synced_exactly_and_a_new_lock_is_a_new_env(tmp_path: Path, index: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\ndependencies = ["greet<2"]\n'
    )
    uv = envs.tools.which("uv")
    assert uv
    env = {**envs.index_settings(), "UV_CACHE_DIR": str(tmp_path / "cache"), "PATH": envs.tools.BIN}
    subprocess.run([uv, "lock", "-q"], cwd=project, env=env, check=True)
    files = {name: (project / name).read_text() for name in ("pyproject.toml", "uv.lock")}
    mirror, base = mirror_of(tmp_path, "app", files)
    state = tmp_path / "state"
    first = envs.ensure(state, mirror, "app", base, "auto")
    assert first and first.how == "uv.lock"
    assert run_in(first, "import greet; print(greet.HELLO)") == "one"

    (project / "pyproject.toml").write_text(files["pyproject.toml"].replace("greet<2", "greet>=2"))
    subprocess.run([uv, "lock", "-q"], cwd=project, env=env, check=True)
    commit_to(tmp_path / "app.git", {n: (project / n).read_text() for n in ("pyproject.toml", "uv.lock")})
    git.fetch(mirror, str(tmp_path / "app.git"))
    newer = git.rev(mirror, "refs/remotes/origin/main")
    assert newer
    second = envs.ensure(state, mirror, "app", newer, "auto")
    assert second and second.key != first.key
    assert run_in(second, "import greet; print(greet.HELLO)") == "two"


def test_an_explicit_env_installs_and_runs_its_setup(tmp_path: Path, index: Path) -> None:
    mirror, base = mirror_of(tmp_path, "app", {"app.py": "", "extra.txt": "shout\n"})
    setting = envs.Explicit(
        install=("greet==1.0", "-r extra.txt"),
        setup=("python -c \"import sys; open(sys.prefix + '/marker', 'w')\"",),
    )
    env = envs.ensure(tmp_path / "state", mirror, "app", base, setting)
    assert env and env.how == "explicit"
    assert run_in(env, "import shout; print(shout.LOUD)") == "ONE"
    assert (env.root / "marker").exists()
    assert envs.ensure(tmp_path / "state", mirror, "app", base, "none") is None


def test_a_broken_requirement_is_one_line_and_is_not_retried(tmp_path: Path, index: Path) -> None:
    mirror, base = mirror_of(tmp_path, "app", {"requirements.txt": "no-such-package==9\n"})
    state = tmp_path / "state"
    with pytest.raises(StepError) as first:
        envs.ensure(state, mirror, "app", base, "auto")
    message = str(first.value)
    assert "\n" not in message and "no-such-package" in message, message
    log = next((state / "envs" / "app").glob("*.log"))
    log.unlink()
    with pytest.raises(StepError) as second:
        envs.ensure(state, mirror, "app", base, "auto")
    assert str(second.value) == message and not log.exists()  # the record answered; uv did not run
    with pytest.raises(StepError):  # asked for by hand (`doit env:REPO`), it is tried again
        envs.ensure(state, mirror, "app", base, "auto", retry=True)
    assert log.exists()


@pytest.mark.parametrize(
    ("files", "how"),
    [
        ({"uv.lock": "", "pyproject.toml": "", "requirements.txt": ""}, "uv.lock"),
        ({"pyproject.toml": "", "setup.py": "", "requirements.txt": ""}, "pyproject.toml"),
        ({"setup.py": "", "setup.cfg": ""}, "setup.py"),
        ({"setup.cfg": "", "requirements/dev.txt": ""}, "setup.cfg"),
        ({"dev-requirements.txt": "", "a.py": ""}, "requirements"),
        ({"tests/test_a.py": ""}, "tests only"),
    ],
)
def test_auto_reads_the_first_source_there_is(tmp_path: Path, files: dict[str, str], how: str) -> None:
    mirror, base = mirror_of(tmp_path, "app", files)
    found = envs.recipe(mirror, base, "auto")
    assert found is not None and found.how == how


def test_a_pyproject_without_a_project_table_takes_every_extra_setup_py_declares(
    tmp_path: Path, index: Path
) -> None:
    repack("setuptools", index)  # setup.py's build backend, from the same folder of wheels
    setup_py = (
        "from setuptools import setup\n"
        "setup(name='app', version='0', py_modules=['app'], extras_require={'dev': ['shout']})\n"
    )
    pyproject = "[tool.pytest.ini_options]\naddopts = '-q'\n"  # tool settings only, as many repos have
    mirror, base = mirror_of(
        tmp_path, "app", {"pyproject.toml": pyproject, "setup.py": setup_py, "app.py": ""}
    )
    env = envs.ensure(tmp_path / "state", mirror, "app", base, "auto")
    assert env and env.how == "pyproject.toml"
    assert run_in(env, "import shout; print(shout.LOUD)") == "TWO"


def test_a_password_in_the_index_url_reaches_no_log_and_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith(("PIP_", "UV_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://shipyard:s3cret-pw@127.0.0.1:9/simple")  # nothing listens
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    mirror, base = mirror_of(tmp_path, "app", {"requirements.txt": "greet\n"})
    state = tmp_path / "state"
    with pytest.raises(StepError) as failed:
        envs.ensure(state, mirror, "app", base, "auto")
    assert "Failed to fetch" in str(failed.value)
    written = [p.read_text() for p in (state / "envs" / "app").glob("*.*") if p.is_file()]
    assert written and not any("s3cret-pw" in text for text in [str(failed.value), *written])
