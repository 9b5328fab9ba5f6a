"""A repo's own environment, built by uv into `state/envs/REPO/KEY/` and shared by every ticket.

`env: auto` reads the repo's files at the base commit: `uv.lock` (an exact sync with its extras
and groups), else `pyproject.toml`, `setup.py` or `setup.cfg` (the project's dependencies with
its test and dev extras and groups), else `requirements*.txt` and `requirements/*.txt`; plus
pytest when the repo has tests (resolved with the rest: a version the repo pins is the one it
gets; a runner configured but listed nowhere is still there). `env: {python, install, setup}` says it
outright; `env: none` is shipyard's own interpreter. The project itself is never installed from
the base: the steps that use the env put the tree they judge first on `PYTHONPATH`.

KEY hashes what defines the env: those files (by git's blob ids, so a cache hit starts one git
process), the settings, the Python and uv versions. A build runs once under a lock, in the
sandbox with network; a failed one is recorded and not retried until its key changes (or its
`KEY.json` is removed).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shlex
import sys
import time
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock
from pydantic import BaseModel, ConfigDict

from pipelines import git, sandbox, tools
from pipelines.errors import StepError
from pipelines.files import read_json, write_json

PROJECT_FILES = ("uv.lock", "pyproject.toml", "setup.py", "setup.cfg")
REQUIREMENTS = re.compile(r"^([^/]*requirements[^/]*\.txt|requirements/[^/]+\.txt)$")
FOR_TESTS = re.compile(r"test|dev")  # the requirement files a project's tests also need
TESTS = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")
WANTED = re.compile(r"^(tests?|testing|dev|develop|development)$")  # extras and groups a test run needs
URL_USER = re.compile(r"(?<=://)[^/@\s]+@")  # user:token@ in an index URL


class Explicit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    python: str | None = None  # a version uv finds installed ("3.12") or an interpreter's path
    install: tuple[str, ...] = ()  # pip-style requirement arguments: "-e .[test]", "-r req.txt", "pytest"
    setup: tuple[str, ...] = ()  # commands run in the built env, in the base's tree


Setting = Literal["auto", "none"] | Explicit


@dataclass(frozen=True)
class Env:
    root: Path  # the virtualenv
    key: str
    how: str  # what defined it: uv.lock, pyproject.toml, requirements, explicit...

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"


@dataclass(frozen=True)
class Recipe:
    how: str
    sources: dict[str, str]  # the files that define the env: path -> blob id at the base
    tests: bool  # the repo has tests


def recipe(mirror: Path, base: str, setting: Setting) -> Recipe | None:
    """What defines the env of the repo at `base`; None for `env: none`."""
    if setting == "none":
        return None
    listing = git.git(mirror, "ls-tree", "-r", base, env=git.at(mirror)).splitlines()
    blobs = {path: meta.split()[2] for meta, _, path in (line.partition("\t") for line in listing)}
    tests = any(TESTS.search(path) for path in blobs)
    if isinstance(setting, Explicit):
        sources = {p: b for p, b in blobs.items() if p in PROJECT_FILES or REQUIREMENTS.match(p)}
        return Recipe("explicit", sources, tests)
    for name in PROJECT_FILES:
        if name in blobs:
            keep = ("uv.lock", "pyproject.toml") if name == "uv.lock" else PROJECT_FILES
            sources = {p: blobs[p] for p in keep if p in blobs}
            if name != "uv.lock":  # test-requirements.txt and the like, beside the project's metadata
                sources |= {p: b for p, b in blobs.items() if REQUIREMENTS.match(p) and FOR_TESTS.search(p)}
            return Recipe(name, sources, tests)
    requirements = {p: b for p, b in blobs.items() if REQUIREMENTS.match(p)}
    return Recipe("requirements" if requirements else "tests only", requirements, tests)


def key(recipe: Recipe, setting: Setting) -> str:
    """What identifies one env: its sources, its settings, the Python and uv that build it."""
    python = setting.python if isinstance(setting, Explicit) and setting.python else sys.version
    parts = {
        "how": recipe.how,
        "sources": recipe.sources,
        "tests": recipe.tests,
        "setting": setting.model_dump(mode="json") if isinstance(setting, Explicit) else setting,
        "python": python,
        "uv": _uv_version(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def built(state: Path, repo: str, key: str) -> dict[str, Any] | None:
    """The record of the repo's env with `key` (how it was made, status, build time), if any."""
    return _done(state / "envs" / repo / f"{key}.json")


def ensure(
    state: Path,
    mirror: Path,
    repo: str,
    base: str,
    setting: Setting,
    *,
    sandboxed: bool = True,
    retry: bool = False,
) -> Env | None:
    """The repo's env at `base`, built now unless an env with the same key exists (or failed to
    build: that is tried again only when asked, `retry`)."""
    found = recipe(mirror, base, setting)
    if found is None:
        return None
    name = key(found, setting)
    root = state / "envs" / repo / name
    record = root.with_suffix(".json")
    env = Env(root, name, found.how)
    if (done := _done(record)) is not None and not (retry and done["status"] != "built"):
        return _checked(env, done, repo)
    if sandboxed and (why := sandbox.problem()):  # not the env's fault: nothing recorded
        raise StepError(f"no sandbox to build the env in: {why} (or `sandbox: off`)")
    with FileLock(str(root) + ".lock"):  # two runs or two threads never build one env twice
        if (done := _done(record)) is None or (retry and done["status"] != "built"):
            done = _build(state, mirror, repo, base, setting, found, env, sandboxed)
            write_json(record, done)
    return _checked(env, done, repo)


def _done(record: Path) -> dict[str, Any] | None:
    return read_json(record) if record.exists() else None


def _checked(env: Env, done: dict[str, Any], repo: str) -> Env:
    if done["status"] != "built":
        raise StepError(f"the env ({env.how}, key {env.key}) failed to build: {done['error']}")
    return env


def _build(
    state: Path,
    mirror: Path,
    repo: str,
    base: str,
    setting: Setting,
    recipe: Recipe,
    env: Env,
    sandboxed: bool,
) -> dict[str, Any]:
    """Build `env` from the base's tree; the record of how it went (written by the caller)."""
    started = time.monotonic()
    git.remove_tree(env.root)
    source = env.root.with_suffix(".src")
    git.remove_tree(source)
    git.export(mirror, base, source)
    home = env.root.with_suffix(".home")
    cache = Path(os.environ.get("UV_CACHE_DIR") or state / "envs" / ".uv-cache")  # the user's, if set
    env.root.mkdir(parents=True)
    cache.mkdir(parents=True, exist_ok=True)
    index = index_settings()
    variables = {**tools.environment(home), **index, "UV_PYTHON_DOWNLOADS": "never"}
    variables["UV_CACHE_DIR"] = str(cache)
    box = sandbox.Box(
        cwd=source, writable=(env.root, home, cache), readable=_index_paths(index),
        hidden=(state,), network=True, enabled=sandboxed,
    )  # fmt: skip
    log: list[str] = []
    try:
        for step in _steps(setting, recipe, env, source):
            code, out = sandbox.run(step, box, {**variables, **_active(env)}, 1800)
            log.append(f"$ {shlex.join(step)}\n{_redact(out.decode(errors='replace'))}")
            if code != 0:
                raise StepError(_first_error(log[-1]) if code is not None else "timed out after 1800s")
    except StepError as err:
        status, error = "failed", str(err)
    else:
        status, error = "built", None
    finally:
        git.remove_tree(source)
        git.remove_tree(home)
    env.root.with_suffix(".log").write_text("\n".join(log))
    seconds = round(time.monotonic() - started, 2)
    return {"key": env.key, "how": env.how, "status": status, "error": error, "seconds": seconds}


def _steps(setting: Setting, recipe: Recipe, env: Env, source: Path) -> list[list[str]]:
    """The commands that make the env, run in the base's tree."""
    uv = tools.which("uv") or "uv"
    python = setting.python if isinstance(setting, Explicit) and setting.python else sys.executable
    steps = [[uv, "venv", "-q", "--allow-existing", "--python", python, str(env.root)]]
    install = [uv, "pip", "install", "-q", "--python", str(env.python)]
    wanted: list[str] = []
    if isinstance(setting, Explicit):
        wanted = [arg for line in setting.install for arg in shlex.split(line)]
    elif recipe.how == "uv.lock":
        steps.append([uv, "sync", "-q", "--frozen", "--no-install-project", "--all-extras", "--all-groups"])
    elif recipe.how in ("pyproject.toml", "setup.py", "setup.cfg"):
        wanted = ["-r", recipe.how, *_extras(source, recipe.how)]
        wanted += [arg for path in sorted(recipe.sources) if REQUIREMENTS.match(path) for arg in ("-r", path)]
    elif recipe.how == "requirements":
        wanted = [arg for path in sorted(recipe.sources) for arg in ("-r", path)]
    if recipe.tests:  # resolved with the rest: a pin the repo makes (pytest==6.2.5) is what it gets
        wanted.append("pytest")
    if wanted:
        steps.append([*install, *wanted])
    for command in setting.setup if isinstance(setting, Explicit) else ():
        steps.append(["sh", "-c", command])
    return steps


def _extras(source: Path, how: str) -> list[str]:
    """The test and dev extras and dependency groups a pyproject.toml declares (all, for setup.*)."""
    if how != "pyproject.toml":
        return ["--all-extras"]
    try:
        data = tomllib.loads((source / how).read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # uv says what is wrong with it
    project = data.get("project")
    if project is None or "optional-dependencies" in project.get("dynamic", ()):
        return ["--all-extras"]  # the extras come from setup.py (or a build backend): every one
    extras = project.get("optional-dependencies") or {}
    groups = data.get("dependency-groups") or {}
    return [*(a for e in extras if WANTED.match(e) for a in ("--extra", e)),
            *(a for g in groups if WANTED.match(g) for a in ("--group", g))]  # fmt: skip


def _active(env: Env) -> dict[str, str]:
    """The variables that make `env` the one a command uses."""
    path = os.pathsep.join([str(env.bin), tools.BIN])
    return {"VIRTUAL_ENV": str(env.root), "UV_PROJECT_ENVIRONMENT": str(env.root), "PATH": path}


def index_settings() -> dict[str, str]:
    """The package index the user's pip or uv is configured with, as uv reads it."""
    found = {k: v for k, v in os.environ.items() if k.startswith("UV_") or k in PASSED}
    pip = _pip_config()
    for option, variable in PIP_TO_UV.items():
        value = os.environ.get(f"PIP_{option.upper().replace('-', '_')}") or pip.get(option)
        if value and variable not in found:
            found[variable] = (
                " ".join(value.split()) if variable != "UV_FIND_LINKS" else ",".join(value.split())
            )
    return found


PASSED = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
)
PIP_TO_UV = {
    "index-url": "UV_INDEX_URL", "extra-index-url": "UV_EXTRA_INDEX_URL", "find-links": "UV_FIND_LINKS",
    "cert": "SSL_CERT_FILE", "trusted-host": "UV_INSECURE_HOST", "no-index": "UV_NO_INDEX",
}  # fmt: skip


def _pip_config() -> dict[str, str]:
    """pip's [global] and [install] settings from its config files, the later ones winning."""
    files = ["/etc/pip.conf", "/etc/xdg/pip/pip.conf", Path.home() / ".pip/pip.conf"]
    files += [Path.home() / ".config/pip/pip.conf", os.environ.get("PIP_CONFIG_FILE", "")]
    parser = configparser.ConfigParser()
    parser.read([f for f in files if f and os.path.isfile(f)])
    return {
        k: v
        for section in ("global", "install")
        if parser.has_section(section)
        for k, v in parser[section].items()
    }


def _index_paths(index: dict[str, str]) -> tuple[Path, ...]:
    """Local folders and certificates the index settings name: readable in the build's sandbox."""
    found = []
    for value in index.values():
        for word in re.split(r"[\s,]+", value):
            path = word.removeprefix("file://")
            if path.startswith("/") and os.path.exists(path):
                found.append(Path(path))
    return tuple(found)


def _redact(text: str) -> str:
    return URL_USER.sub("***@", text)


def _first_error(log: str) -> str:
    """uv's first error on one line, with the reason it gives below it."""
    lines = [line.strip(" ×╰─▶│") for line in log.splitlines()[1:] if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lower().startswith("error")), 0)
    said = lines[start] if lines else "the build failed"
    if start + 1 < len(lines) and (said.endswith(":") or lines[start + 1].startswith("cause:")):
        said = f"{said.rstrip(':')}: {lines[start + 1].removeprefix('cause: ')}"
    return said[:300]


def _uv_version() -> str:
    try:
        return metadata.version("uv")
    except metadata.PackageNotFoundError:
        return "none"
