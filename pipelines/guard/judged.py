"""The patch may not change how it is judged: the gates in use judge it by the base's rules.

A gate's configuration is in files of its own (`ruff.toml`, `pytest.ini`, `conftest.py` at any
depth...) and in its tables of files it shares with the project (`[tool.ruff]` in a
`pyproject.toml`, `[tool:pytest]` in `setup.cfg`, `[pytest]` in `tox.ini`): each gate backend
says where (`CONFIGURED`). A patch that changes any of it, for a gate the repo runs, is refused,
naming the file and the table, so a change cannot pass by loosening its own checks; the rest of
a shared file (`[project]` and its dependencies, `[tool.setuptools]`...) stays the patch's to
change. A ticket's `allow_config:` globs lift this for the files it names.

Refusing beats running the gate with the base's version of the files: a patch that needs a new
fixture in `conftest.py` or a new ruff rule is a decision for a person, and the refusal says so in
one line, where a silent swap would judge a tree nobody wrote.
"""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from pipelines import globs
from pipelines.gates import Configured

from .policy import Refusal

Read = Callable[[str], bytes | None]  # a file's content at the base or after the patch (None: absent)
INI = ("setup.cfg", "tox.ini")
MISSING = object()


def refusals(
    configured: Sequence[tuple[str, Configured]], paths: Sequence[str], before: Read, after: Read,
    allowed: globs.Globs = (),
) -> list[Refusal]:  # fmt: skip
    """The patch's changes to how `configured` gates judge it, one refusal per file and table;
    `paths` are every path the patch touches (both sides of a rename)."""
    found: list[Refusal] = []
    for path in dict.fromkeys(paths):
        if allowed and globs.matches(allowed, path):
            continue
        name = PurePosixPath(path).name
        for gate, config in configured:
            if config.files and globs.matches(config.files, path):
                found.append(_refusal(path, f"configures the {gate} gate"))
                break
        else:
            if name == "pyproject.toml":
                found += _tables(path, configured, before, after)
            elif name in INI:
                found += _sections(path, configured, before, after)
    return found


def _tables(
    path: str, configured: Sequence[tuple[str, Configured]], before: Read, after: Read
) -> list[Refusal]:
    old, new = _toml(before(path)), _toml(after(path))
    if new is None or old is None:
        return [
            _refusal(
                path, "cannot be read as TOML, so shipyard cannot tell whether it changes a gate's table"
            )
        ]
    found = []
    for gate, config in configured:
        for table in config.tables:
            if _at(old, table) != _at(new, table):
                found.append(_refusal(path, f"changes [{table}], which configures the {gate} gate"))
    return found


def _sections(
    path: str, configured: Sequence[tuple[str, Configured]], before: Read, after: Read
) -> list[Refusal]:
    old, new = _ini(before(path)), _ini(after(path))
    if new is None or old is None:
        what = "cannot be read as an ini file, so shipyard cannot tell whether it changes a gate's section"
        return [_refusal(path, what)]
    found = []
    for gate, config in configured:
        for wanted in config.sections:
            names = {
                n for n in (*old, *new) if n == wanted or (wanted.endswith(":") and n.startswith(wanted))
            }
            for section in sorted(names):
                if old.get(section) != new.get(section):
                    found.append(_refusal(path, f"changes [{section}], which configures the {gate} gate"))
    return found


def _refusal(path: str, what: str) -> Refusal:
    lift = f"allow_config: [{path}] in the ticket lifts this"
    return Refusal("gate-config", f"{path} {what}: a patch is judged by the base's rules ({lift})")


def _toml(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _at(data: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


def _ini(data: bytes | None) -> dict[str, dict[str, str]] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string((data or b"").decode())
    except (UnicodeDecodeError, configparser.Error):
        return None
    return {name: dict(parser[name]) for name in parser.sections()}
