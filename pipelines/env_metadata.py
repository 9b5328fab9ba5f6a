"""A local project's requirements, learned without running its code with network.

An env build runs a project's build code (its `setup.py`, a build backend) only offline, in the
sandbox: the PEP 517 hooks are called there by `HOOK`, a stdlib script run by a build venv's
Python, and they write the project's `METADATA` into a folder. shipyard's own process only reads
that file as text, keeps the `Requires-Dist` lines a build needs, checks each is a plain
requirement (a name, extras, versions, a marker: no URL, path or option, so nothing the build
wrote can point the next, networked, phase anywhere) and hands them on in a requirements file.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import StepError

# Called as `python -I -c HOOK MODE BACKEND BACKEND_PATH_JSON OUT` in the project's folder: MODE is
# metadata (a dist-info or egg-info folder under OUT, or OUT/missing.txt naming the build
# requirements it still lacks), wheel or editable (a wheel in OUT).
HOOK = r"""
import importlib, importlib.metadata, json, os, re, sys, zipfile
mode, spec, paths, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
sys.path[:0] = [os.path.abspath(p) for p in paths]
module, _, attrs = spec.partition(":")
backend = importlib.import_module(module)
for attr in filter(None, attrs.split(".")):
    backend = getattr(backend, attr)

def missing():
    asked = getattr(backend, "get_requires_for_build_wheel", lambda settings: [])({})
    names = [(r, re.match(r"[A-Za-z0-9._-]+", r)) for r in asked]
    def absent(name):
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            return True
        return False
    return [r for r, name in names if name and absent(name.group())]

if mode == "metadata":
    try:
        if hasattr(backend, "prepare_metadata_for_build_wheel"):
            backend.prepare_metadata_for_build_wheel(out, {})
        else:
            with zipfile.ZipFile(os.path.join(out, backend.build_wheel(out, {}))) as whl:
                whl.extractall(out, [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")])
    except BaseException:  # distutils ends with SystemExit
        if any(name.endswith(".egg-info") for name in os.listdir(out)):
            sys.exit(0)  # setuptools wrote its egg-info before it failed for want of wheel: enough
        lacking = missing()
        if not lacking:
            raise
        with open(os.path.join(out, "missing.txt"), "w") as f:
            f.write("\n".join(lacking))
elif mode == "editable" and hasattr(backend, "build_editable"):
    backend.build_editable(out, {})
else:
    backend.build_wheel(out, {})
"""

SETUPTOOLS = ("setuptools>=40.8.0",)  # PEP 517's build requirements for a project that names none
LEGACY = "setuptools.build_meta:__legacy__"
NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
PLAIN = re.compile(rf"^{NAME}\s*(\[[\w.,\s-]*\])?[\w\s.,*+!=<>~()-]*(;[^#\\$]*)?$")
EXTRA = re.compile(r"""\bextra\s*==\s*(['"])([^'"]*)\1|(['"])([^'"]*)\3\s*==\s*extra\b""")
MAX_READ = 1 << 20  # a METADATA or requirements file bigger than this is not one


@dataclass
class Local:
    """A project in the repo's tree an env needs: its requirements, and itself when `install`."""

    path: str  # relative to the tree's root, "." for the repo's own project
    extras: set[str] | None = field(default_factory=set)  # None: every extra it declares
    install: bool = False
    editable: bool = False

    def merge(self, other: Local) -> None:
        self.extras = None if self.extras is None or other.extras is None else self.extras | other.extras
        self.install |= other.install
        self.editable |= other.editable


@dataclass(frozen=True)
class Backend:
    requires: tuple[str, ...]
    name: str
    path: tuple[str, ...]  # in-tree backend folders


def backend(tree: Path, local: Local) -> Backend:
    """What builds the project: its `[build-system]`, or setuptools' legacy backend."""
    text = read_inside(tree, f"{local.path}/pyproject.toml")
    try:
        table = tomllib.loads(text or "").get("build-system") or {}
    except tomllib.TOMLDecodeError as err:
        raise StepError(f"{local.path}/pyproject.toml is not valid TOML: {err}") from None
    requires = tuple(plain(r, "[build-system] requires") for r in table.get("requires", SETUPTOOLS))
    if "build-backend" not in table:
        return Backend(requires, LEGACY, ())
    return Backend(requires, str(table["build-backend"]), tuple(map(str, table.get("backend-path", ()))))


def requirements(out: Path, extras: set[str] | None) -> list[str]:
    """The requirements of the metadata a hook wrote under `out`, for the wanted extras."""
    wanted = None if extras is None else {_normal(e) for e in extras}
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if info := [n for n in names if n.endswith(".dist-info")][:1]:
        text = read_inside(out, f"{info[0]}/METADATA")
        if text is not None:
            return _from_metadata(text, wanted)
    egg = [n for n in names if n.endswith(".egg-info")][:1]
    if egg and read_inside(out, f"{egg[0]}/PKG-INFO") is not None:  # setuptools without wheel
        return _from_egg(read_inside(out, f"{egg[0]}/requires.txt") or "", wanted)
    raise StepError("the project's build wrote no metadata (prepare_metadata_for_build_wheel)")


def _from_metadata(text: str, wanted: set[str] | None) -> list[str]:
    kept = []
    for line in text.split("\n\n", 1)[0].splitlines():  # the headers, not the description
        if line.startswith("Requires-Dist:"):
            kept += _for_extras(plain(line.removeprefix("Requires-Dist:").strip(), "Requires-Dist"), wanted)
    return kept


def _from_egg(text: str, wanted: set[str] | None) -> list[str]:
    """setuptools' requires.txt: the project's requirements, then `[extra:marker]` sections."""
    kept, extra, marker = [], None, ""
    for line in (line.strip() for line in text.splitlines()):
        if line.startswith("["):
            name, _, marker = line.strip("[]").partition(":")
            extra = _normal(name) if name else None
        elif line and not line.startswith("#") and (extra is None or wanted is None or extra in wanted):
            name, _, own = line.partition(";")
            both = f"({own.strip()}) and ({marker})" if own.strip() and marker else own.strip() or marker
            kept.append(plain(f"{name.strip()}; {both}" if both else name.strip(), "requires.txt"))
    return kept


def missing(out: Path) -> list[str]:
    """The build requirements a hook found lacking (it wrote them instead of metadata)."""
    text = read_inside(out, "missing.txt") or ""
    return [plain(line, "the build's requirements") for line in text.splitlines() if line.strip()]


def plain(requirement: str, where: str) -> str:
    """`requirement` if it is a name with extras, versions and a marker and nothing else."""
    if not PLAIN.match(requirement) or re.search(r"(^|\s)-|://", requirement):
        raise StepError(
            f"{where} holds {requirement[:80]!r}, not a plain requirement (name, version, marker)"
        )
    return requirement


def _for_extras(requirement: str, wanted: set[str] | None) -> list[str]:
    """The requirement as the wanted extras need it: gone when only other extras ask for it, its
    `extra == ...` clauses made always true or always false (markers have no literal for them)."""
    named = {_normal(m.group(2) or m.group(4)) for m in EXTRA.finditer(requirement)}
    if named and wanted is not None and not named & wanted:
        return []

    def truth(match: re.Match[str]) -> str:
        asked = wanted is None or _normal(match.group(2) or match.group(4)) in wanted
        return 'python_version >= "0"' if asked else 'python_version < "0"'

    return [EXTRA.sub(truth, requirement)]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_inside(root: Path, relative: str) -> str | None:
    """A regular file under `root` as text; None when it is not one, leads out of `root` (a link,
    `..`) or is too big. What a build wrote is read with this only, so it can point nowhere else."""
    path = _resolved(root, relative)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = file.read(MAX_READ + 1)
    return data.decode(errors="replace") if len(data) <= MAX_READ else None


def inside(root: Path, relative: str) -> Path | None:
    """`root/relative` when it is a folder inside `root`, links resolved."""
    path = _resolved(root, relative)
    return Path(path) if path and os.path.isdir(path) else None


def _resolved(root: Path, relative: str) -> str | None:
    base = os.path.realpath(root)
    path = os.path.realpath(os.path.join(base, relative))
    return path if path == base or path.startswith(base + os.sep) else None
