"""The Jinja2 templates shipped in pipelines/templates/, and the `data` filter that frames the text
others wrote (a ticket, a plan's instructions, a patch, a gate's report) as data in a prompt."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import jinja2

FOLDER = Path(__file__).parent / "templates"


def data(text: Any, source: str) -> str:
    """`text` between markers that say where it came from and that it cannot forge: their id is
    derived from its sha256 (the same text, the same prompt), and derived again, should the text
    hold it, until the text does not (a block closes only at its own id, never early)."""
    body = str(text).strip("\n")
    for attempt in itertools.count():
        mark = hashlib.sha256(f"{attempt}\0{source}\0{body}".encode()).hexdigest()[:12]
        if mark not in body:
            break
    lines = [f'<data source="{source}" id="{mark}">', body, f'</data id="{mark}">']
    return "\n".join(line for line in lines if line)


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FOLDER),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_env.filters["data"] = data


def path(name: str) -> Path:
    return FOLDER / name


def render(name: str, **values: Any) -> str:
    return _env.get_template(name).render(**values).rstrip() + "\n"


# the HTML pages (pages.py) escape every value they show: a `<script>` in a patch is text there
_html = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FOLDER),
    undefined=jinja2.StrictUndefined,
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(name: str, **values: Any) -> str:
    return _html.get_template(name).render(**values).rstrip() + "\n"
