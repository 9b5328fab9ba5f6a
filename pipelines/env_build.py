"""How an env is built: in two phases, so that no code the repo controls runs with network.

The fetch phase has network and the index's settings (its URLs, credentials, certificates,
proxies) and nothing else; it runs uv alone, `--no-build` (wheels only) and `--no-config`, on the
copies `env_inputs` makes, installing into each venv once with `--link-mode=copy`. The download
cache it writes, `state/envs/.uv-cache`, is shared by every env because only uv writes it and no
env file is a link into it. The build phase has no network, no index setting, no secret and a
uv cache of its own (`UV_OFFLINE`): everything that runs code runs there, reading a project's
requirements by its metadata hook, building the local projects an explicit env installs, its
`setup` commands. Nothing the build phase writes is read by a later fetch except the
requirements shipyard parsed out of a METADATA and checked, and nothing a build writes is
imported by shipyard's own process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import env_metadata, git, sandbox, tools
from pipelines.env_inputs import PROJECT_FILES, REQUIREMENTS, WANTED, Inputs
from pipelines.env_metadata import Local
from pipelines.env_spec import Env, Recipe, Setting
from pipelines.errors import StepError

UV = tools.which("uv") or "uv"
FETCH = ("-q", "--no-config", "--no-build", "--link-mode=copy")  # every uv install of the fetch phase
URL_USER = re.compile(r"(?<=://)[^/@\s]+@")  # user:token@ in an index URL
NO_WHEEL = re.compile(r"Wheels are required for `([^`]+)`|Distribution `([^`= ]+)[^`]*` can't be installed")
LOCKED = ("--frozen", "--no-install-project", "--no-install-local", "--all-extras", "--all-groups")
TIMEOUT = 1800


@dataclass
class Phases:
    """Runs one env build's commands: a fetch with network and the index's settings only, a build
    offline with neither; both in the sandbox, hiding the rest of `state/` (other envs, the cache)."""

    env: Env
    scratch: Path  # beside the env, removed after the build: the tree, the copies, venvs, homes
    cache: Path  # the download cache the fetches of every env share
    index: dict[str, str]
    state: Path
    sandboxed: bool
    python: str = sys.executable  # what the env's and the build venvs' Python is made from
    log: list[str] = field(default_factory=list)

    @property
    def tree(self) -> Path:
        return self.scratch / "tree"

    def venv(self, root: Path) -> None:
        self.fetch(
            [UV, "venv", "-q", "--no-config", "--allow-existing", "--python", self.python, str(root)], (root,)
        )

    def install(self, root: Path, args: Sequence[str], readable: Sequence[Path] = ()) -> None:
        """One install into the fresh venv `root`: a second would start its Python, and with it the
        `.pth` files of the packages it holds, with network."""
        self.fetch([UV, "pip", "install", *self.flags(), "--python", str(root / "bin" / "python"), *args],
                   (root,), readable)  # fmt: skip

    def hook(self, venv: Path, mode: str, backend: env_metadata.Backend, out: Path, cwd: Path | None) -> None:
        """A PEP 517 hook of the project in `cwd`, called offline by the build venv's Python."""
        hook = [str(venv / "bin" / "python"), "-I", "-c", env_metadata.HOOK, mode, backend.name]
        self.build([*hook, json.dumps(backend.path), str(out)], (out,), (venv,), cwd)

    def fetch(
        self, argv: Sequence[str], writable: Sequence[Path] = (), readable: Sequence[Path] = ()
    ) -> None:
        home = self.scratch / "fetch-home"
        self.cache.mkdir(parents=True, exist_ok=True)
        variables = {**tools.environment(home), **self.index, **_active(self.env)}
        variables |= {"UV_CACHE_DIR": str(self.cache), "UV_PYTHON_DOWNLOADS": "never"}
        box = sandbox.Box(
            cwd=self.scratch / "fetch", read_only=True, writable=(home, self.cache, *writable),
            readable=(*_index_paths(self.index), *readable), hidden=(self.state,), network=True,
            enabled=self.sandboxed,
        )  # fmt: skip
        self._run(argv, box, variables)

    def build(
        self, argv: Sequence[str], writable: Sequence[Path] = (), readable: Sequence[Path] = (),
        cwd: Path | None = None,
    ) -> None:  # fmt: skip
        home, cache = self.scratch / "build-home", self.scratch / "build-cache"  # this build's alone
        cache.mkdir(exist_ok=True)
        variables = {**tools.environment(home), **_active(self.env), "UV_OFFLINE": "1"}
        variables |= {"UV_CACHE_DIR": str(cache), "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}
        box = sandbox.Box(
            cwd=cwd or self.tree, writable=(self.tree, home, cache, *writable), readable=tuple(readable),
            hidden=(self.state,), network=False, enabled=self.sandboxed,
        )  # fmt: skip
        self._run(argv, box, variables)

    def flags(self) -> list[str]:
        # pip's `no-index` has no variable uv reads: said on the command line
        no_index = self.index.get("UV_NO_INDEX", "").lower() in ("1", "true", "yes", "on")
        return [*FETCH, *(["--no-index"] if no_index else [])]

    def _run(self, argv: Sequence[str], box: sandbox.Box, variables: dict[str, str]) -> None:
        code, out = sandbox.run([str(a) for a in argv], box, variables, TIMEOUT)
        shown = ["HOOK" if a == env_metadata.HOOK else str(a) for a in argv]
        self.log.append(f"$ {shlex.join(shown)}\n{_redact(out.decode(errors='replace'))}")
        if code != 0:
            raise StepError(_failure(self.log[-1]) if code is not None else f"timed out after {TIMEOUT}s")


def make(phases: Phases, setting: Setting, recipe: Recipe) -> None:
    """Fetch what the env needs with network, build what runs code without: fetch the wheels the
    repo's files name; for a project whose needs only its build can say (setup.py, a dynamic
    pyproject, `-e .`), fetch its build requirements, call its metadata hook offline, fetch what it
    wrote; then, offline, build the local projects an explicit env installs and run its setup."""
    explicit = not isinstance(setting, str)  # "auto" (`none` builds nothing) or an Explicit
    inputs = Inputs(phases.tree, phases.scratch / "fetch", install=explicit)
    inputs.fetch.mkdir()
    args = _wanted(setting, recipe, inputs)  # every file the fetch reads is read now, before any code runs
    backends = [(local, env_metadata.backend(phases.tree, local)) for local in inputs.locals.values()]
    root = phases.env.root
    phases.venv(root)
    if recipe.how == "uv.lock" and not explicit:
        _locked(phases, exported=bool(args))
    needs = [need for i, (local, made) in enumerate(backends) for need in _needs(phases, i, local, made)]
    if needs:
        wanted = phases.scratch / "needs" / "requirements.txt"
        wanted.parent.mkdir()
        wanted.write_text("".join(f"{need}\n" for need in needs))
        args += ["-r", str(wanted)]
    if args:
        phases.install(root, args, (phases.scratch / "needs", phases.scratch / "locked"))
    for i, (local, made) in enumerate(backends):
        if local.install:
            _install(phases, i, local, made)
    for command in () if isinstance(setting, str) else setting.setup:
        phases.build(["sh", "-c", command], (root,))


def _wanted(setting: Setting, recipe: Recipe, inputs: Inputs) -> list[str]:
    """The fetch's `uv pip install` arguments; the local projects go to `inputs.locals`."""
    args: list[str] = []
    if not isinstance(setting, str):
        args = inputs.arguments([arg for line in setting.install for arg in shlex.split(line)])
    elif recipe.how == "uv.lock":
        inputs.copy("uv.lock")
        inputs.copy_projects()  # the workspace's members, whose packages are never installed
        if recipe.tests and not _locks("pytest", inputs.tree):
            args = ["-r", str(inputs.fetch.parent / "locked" / "requirements.txt")]  # exported below
    elif recipe.how in PROJECT_FILES:
        args = _project(inputs, recipe.how)
    if isinstance(setting, str) and recipe.how != "uv.lock":
        for path in sorted(p for p in recipe.sources if REQUIREMENTS.match(p)):
            inputs.requirements(path)
            args += ["-r", path]
    if recipe.tests and (args or recipe.how != "uv.lock"):
        args.append("pytest")  # resolved with the rest: a pin the repo makes (pytest==6.2.5) is what it gets
    return args


def _project(inputs: Inputs, how: str) -> list[str]:
    """The project's own needs: uv reads them from a static pyproject.toml (with its test and dev
    extras and groups); those of setup.py, setup.cfg or a dynamic pyproject are learned offline."""
    if how != "pyproject.toml":
        inputs.add(Local(".", None))  # every extra setup.py declares
        return []
    inputs.copy(how)
    try:
        data = tomllib.loads((inputs.fetch / how).read_text())
    except tomllib.TOMLDecodeError:
        return ["-r", how]  # uv says what is wrong with it
    groups = [a for g in data.get("dependency-groups") or {} if WANTED.match(g) for a in ("--group", g)]
    project = data.get("project")
    if project is None:  # tool settings only: the project, if any, is setup.py's
        if any((inputs.tree / name).is_file() for name in ("setup.py", "setup.cfg")):
            inputs.add(Local(".", None))
        return groups
    dynamic = set(project.get("dynamic", ()))
    extras = [e for e in project.get("optional-dependencies") or {} if WANTED.match(e)]
    if dynamic & {"dependencies", "optional-dependencies"}:
        inputs.add(Local(".", None if "optional-dependencies" in dynamic else set(extras)))
        return groups
    return ["-r", how, *(a for e in extras for a in ("--extra", e)), *groups]


def _needs(phases: Phases, i: int, local: Local, made: env_metadata.Backend) -> list[str]:
    """A local project's requirements: its build requirements fetched into a build venv of their
    own, its metadata hook called offline in that venv, its METADATA read as text."""
    venv, out = phases.scratch / "venvs" / str(i), phases.scratch / "out" / str(i) / "metadata"
    requires, lacking = made.requires, []
    for _ in range(2):  # again with what get_requires_for_build_wheel asked for, if it lacked any
        for path in (venv, out):
            git.remove_tree(path)  # a fresh venv, installed into once
            path.mkdir(parents=True)
        phases.venv(venv)
        if requires:
            phases.install(venv, requires)
        phases.hook(venv, "metadata", made, out, env_metadata.inside(phases.tree, local.path))
        if not (lacking := env_metadata.missing(out)):
            return env_metadata.requirements(out, local.extras)
        requires = (*requires, *lacking)
    raise StepError(f"the build of {local.path} still lacks {', '.join(lacking)}")


def _install(phases: Phases, i: int, local: Local, made: env_metadata.Backend) -> None:
    """An explicit env's local project, built into a wheel and installed, offline."""
    venv, out = phases.scratch / "venvs" / str(i), phases.scratch / "out" / str(i) / "dist"
    out.mkdir(parents=True)
    mode = "editable" if local.editable else "wheel"
    phases.hook(venv, mode, made, out, env_metadata.inside(phases.tree, local.path))
    wheels = sorted(str(p) for p in out.iterdir() if p.suffix == ".whl")
    if not wheels:
        raise StepError(f"the build of {local.path} made no wheel")
    offline = ["-q", "--no-config", "--offline", "--no-index", "--no-deps", "--link-mode=copy"]
    root = phases.env.root
    phases.build(
        [UV, "pip", "install", *offline, "--python", str(phases.env.python), *wheels], (root,), (out,)
    )


def _locked(phases: Phases, exported: bool) -> None:
    """A uv.lock's packages, its project and local ones left out: synced exactly, or exported for
    the one install that adds pytest (a lock without it, in a repo with tests)."""
    if not exported:
        phases.fetch([UV, "sync", *phases.flags(), *LOCKED], (phases.env.root,))
        return
    out = phases.scratch / "locked"
    out.mkdir()
    export = [UV, "export", "-q", "--no-config", "--frozen", "--all-extras", "--all-groups"]
    phases.fetch(
        [*export, "--no-emit-project", "--no-emit-local", "-o", str(out / "requirements.txt")], (out,)
    )


def _locks(name: str, tree: Path) -> bool:
    """Whether the tree's uv.lock holds the package `name`."""
    try:
        packages = tomllib.loads(env_metadata.read_inside(tree, "uv.lock") or "").get("package", [])
    except tomllib.TOMLDecodeError:
        return True  # uv sync says what is wrong with it
    return any(isinstance(p, dict) and p.get("name") == name for p in packages)


def _active(env: Env) -> dict[str, str]:
    """The variables that make `env` the one a command uses."""
    path = os.pathsep.join([str(env.bin), tools.BIN])
    return {"VIRTUAL_ENV": str(env.root), "UV_PROJECT_ENVIRONMENT": str(env.root), "PATH": path}


def _index_paths(index: dict[str, str]) -> tuple[Path, ...]:
    """Local folders and certificates the index settings name, readable in the fetch's sandbox; a
    local simple index's parent folder too, where a mirror keeps the files its pages link to."""
    found = []
    for name, value in index.items():
        for word in re.split(r"[\s,]+", value):
            path = re.sub(r"^[\w-]+=", "", word).removeprefix("file://")  # UV_INDEX's name=URL
            if path.startswith("/") and os.path.exists(path):
                found.append(Path(path))
                if "INDEX" in name and "://" in word:
                    found.append(Path(path).parent)
    return tuple(found)


def _redact(text: str) -> str:
    return URL_USER.sub("***@", text)


def _failure(log: str) -> str:
    """Why a step failed, on one line: a package with no wheel says how to go on."""
    if found := NO_WHEEL.search(log):
        name = found.group(1) or found.group(2)
        return (
            f"{name} has only a source distribution, and an env build runs no package code with network: "
            "put a wheel of it in a find-links folder (PIP_FIND_LINKS), or use an explicit env without it"
        )
    return _first_error(log)


def _first_error(log: str) -> str:
    """uv's first error on one line, with the reason it gives below it."""
    lines = [line.strip(" ×╰─▶│") for line in log.splitlines()[1:] if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lower().startswith("error")), 0)
    said = lines[start] if lines else "the build failed"
    if start + 1 < len(lines) and (said.endswith(":") or lines[start + 1].startswith("cause:")):
        said = f"{said.rstrip(':')}: {lines[start + 1].removeprefix('cause: ')}"
    return said[:300]
