"""Globs as shipyard reads them everywhere: gitignore-style, by pathspec.

`src/**/*.py` is every `.py` under `src/`, `src/a.py` included; `src/*.py` stops at `src/`; a glob
without a slash inside (`*.py`, `ruff.toml`) matches at any depth; `docs/` is the folder and all in
it; `!glob` takes back what a glob before it matched (the last glob that matches decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated

import pathspec
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


@lru_cache(maxsize=256)
def spec(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(globs)


def matches(globs: Sequence[str], path: str) -> bool:
    """Whether `globs` select `path` (relative to the repo's root, `/`-separated)."""
    return spec(tuple(globs)).match_file(path)


def rules(globs: Sequence[str]) -> tuple[tuple[str, bool], ...]:
    """`globs` as the guard's rules (each a regex, and False for a `!` glob), for code that cannot
    import pathspec: the hook, which `guard.policy.protects` lets judge as pathspec would."""
    compiled = spec(tuple(globs)).patterns
    return tuple((p.regex.pattern, bool(p.include)) for p in compiled if p.regex is not None)


def _checked(glob: str) -> str:
    try:
        compiled = spec((glob,)).patterns
    except ValueError as err:
        raise PydanticCustomError(
            "glob", "expected a gitignore-style glob ({why})", {"why": str(err)}
        ) from None
    if not any(p.include is not None for p in compiled):
        raise PydanticCustomError(
            "glob", "expected a gitignore-style glob; this one matches no path (a comment, or an unclosed [)"
        )
    return glob


def _leads(globs: tuple[str, ...]) -> tuple[str, ...]:
    if globs and globs[0].startswith("!"):
        raise PydanticCustomError(
            "glob", "a `!` glob takes back what a glob before it matched; start with a glob that selects"
        )
    return globs


Glob = Annotated[str, AfterValidator(_checked)]
# a list that stands alone (a gate's `paths`, a repo's `protect`): starting with `!` would select nothing
Globs = Annotated[tuple[Glob, ...], AfterValidator(_leads)]
