"""Plugin families: a backend is one module in pipelines/<family>/, named after its kind."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

FAMILIES = ("agents", "gates", "forges")


@cache
def kinds(family: str) -> tuple[str, ...]:
    package = importlib.import_module(f"pipelines.{family}")
    return tuple(sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(package.__path__)))


def load(family: str, kind: str) -> ModuleType:
    """The backend module of `kind` (e.g. 'claude-code' -> pipelines.agents.claude_code)."""
    if kind not in kinds(family):
        raise KeyError(kind)
    return importlib.import_module(f"pipelines.{family}.{kind.replace('-', '_')}")
