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
sandbox, in two phases (`env_build`): a fetch with network and the index's settings that runs no
package code, then a build with no network and no secret that runs the rest. A failed one is
recorded and not retried until its key changes (or its `KEY.json` is removed).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from filelock import FileLock

from pipelines import env_build, git, sandbox
from pipelines.env_inputs import PROJECT_FILES, REQUIREMENTS
from pipelines.env_spec import Env, Explicit, Recipe, Setting
from pipelines.errors import StepError
from pipelines.files import read_json, write_json

FOR_TESTS = re.compile(r"test|dev")  # the requirement files a project's tests also need
TESTS = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")
# The settings uv needs to reach the user's index, and nothing else of the environment: the fetch
# phase holds these alone (no UV_PUBLISH_TOKEN, no UV_CACHE_DIR, no other variable).
INDEX = re.compile(
    r"UV_(INDEX|INDEX_URL|EXTRA_INDEX_URL|DEFAULT_INDEX|FIND_LINKS|NO_INDEX|INDEX_STRATEGY|INSECURE_HOST"
    r"|NATIVE_TLS|SYSTEM_CERTS|HTTP_TIMEOUT|HTTP_RETRIES|INDEX_\w+_(USERNAME|PASSWORD))"
    r"|SSL_CERT_(FILE|DIR)|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy"
)


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


# How envs are built: a new way gets new envs (those built in one phase, with the network and a
# shared writable cache, are never reused)
BUILDER = "two-phase"


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
        "builder": BUILDER,
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
    scratch = env.root.with_suffix(".build")  # the tree, the fetch's copies, build venvs, homes, caches
    for path in (env.root, scratch, env.root.with_suffix(".src"), env.root.with_suffix(".home")):
        git.remove_tree(path)  # .src and .home: what builds before the two phases left
    git.export(mirror, base, scratch / "tree")
    env.root.mkdir(parents=True)
    cache = state / "envs" / ".uv-cache"  # shipyard's own, never the user's UV_CACHE_DIR
    python = setting.python if isinstance(setting, Explicit) and setting.python else sys.executable
    phases = env_build.Phases(env, scratch, cache, index_settings(), state, sandboxed, python)
    try:
        env_build.make(phases, setting, recipe)
    except StepError as err:
        status, error = "failed", str(err)
    else:
        status, error = "built", None
    finally:
        git.remove_tree(scratch)
    env.root.with_suffix(".log").write_text("\n".join(phases.log))
    seconds = round(time.monotonic() - started, 2)
    return {"key": env.key, "how": env.how, "status": status, "error": error, "seconds": seconds}


def index_settings() -> dict[str, str]:
    """The package index the user's pip or uv is configured with, as uv reads it: `INDEX` only."""
    found = {k: v for k, v in os.environ.items() if INDEX.fullmatch(k)}
    pip = _pip_config()
    for option, variable in PIP_TO_UV.items():
        value = os.environ.get(f"PIP_{option.upper().replace('-', '_')}") or pip.get(option)
        if value and variable not in found:
            found[variable] = (
                " ".join(value.split()) if variable != "UV_FIND_LINKS" else ",".join(value.split())
            )
    return found


PIP_TO_UV = {
    "index-url": "UV_INDEX_URL", "extra-index-url": "UV_EXTRA_INDEX_URL", "find-links": "UV_FIND_LINKS",
    "cert": "SSL_CERT_FILE", "trusted-host": "UV_INSECURE_HOST", "no-index": "UV_NO_INDEX",
}  # fmt: skip


def _pip_config() -> dict[str, str]:
    """pip's [global] and [install] settings from its config files, the later ones winning (none
    when PIP_CONFIG_FILE is os.devnull, as pip reads it)."""
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        return {}
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


def _uv_version() -> str:
    try:
        return metadata.version("uv")
    except metadata.PackageNotFoundError:
        return "none"
