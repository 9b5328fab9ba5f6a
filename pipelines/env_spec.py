"""What an env is, for the modules that find, build and use one: the `env:` setting that asks
for it, the recipe read from the repo's files, and the virtualenv that was built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Explicit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    python: str | None = None  # a version uv finds installed ("3.12") or an interpreter's path
    install: tuple[str, ...] = ()  # pip-style requirement arguments: "-e .[test]", "-r req.txt", "pytest"
    setup: tuple[str, ...] = ()  # commands run in the built env, in the base's tree, offline


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
