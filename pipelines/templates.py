"""The Jinja2 templates shipped in pipelines/templates/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

FOLDER = Path(__file__).parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FOLDER),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def path(name: str) -> Path:
    return FOLDER / name


def render(name: str, **values: Any) -> str:
    return _env.get_template(name).render(**values).rstrip() + "\n"
