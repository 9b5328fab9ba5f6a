"""Plugin families: a backend is one module in pipelines/<family>/, named after its kind.

Each family's package defines its interface as a Protocol (`agents.Agent`, `gates.Gate`,
`forges.Forge`) and each backend module checks itself against it, so ty holds them to it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from pipelines.agents import Agent
    from pipelines.forges import Forge
    from pipelines.gates import Gate

FAMILIES = ("agents", "gates", "forges")


class Backend(Protocol):
    """A backend's settings, as repos.yaml gives them: a pydantic model with its `kind`."""

    @property
    def kind(self) -> str: ...

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]: ...

    def model_dump_json(self) -> str: ...


@cache
def kinds(family: str) -> tuple[str, ...]:
    package = importlib.import_module(f"pipelines.{family}")
    return tuple(sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(package.__path__)))


def load(family: str, kind: str) -> ModuleType:
    """The backend module of `kind` (e.g. 'claude-code' -> pipelines.agents.claude_code)."""
    if kind not in kinds(family):
        raise KeyError(kind)
    return importlib.import_module(f"pipelines.{family}.{kind.replace('-', '_')}")


def agent(kind: str) -> Agent:
    return cast("Agent", load("agents", kind))


def gate(kind: str) -> Gate:
    return cast("Gate", load("gates", kind))


def forge(kind: str) -> Forge:
    return cast("Forge", load("forges", kind))
