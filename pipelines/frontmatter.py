"""Markdown files with YAML front matter: tickets and skills."""

from __future__ import annotations

from typing import Any

from pipelines import yamlfile
from pipelines.errors import InputError
from pipelines.yamlfile import KeyPath


def parse(text: str, file: str) -> tuple[dict[str, Any], dict[KeyPath, int], str]:
    """Return the front matter, the line of each of its keys, and the body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        raise InputError(file, "", "expected YAML front matter opening with '---' on line 1", 1)
    for end in range(1, len(lines)):
        if lines[end].rstrip() == "---":
            break
    else:
        raise InputError(file, "", "front matter is not closed by a '---' line", len(lines))
    data, key_lines = yamlfile.load("".join(lines[1:end]), file, first_line=2)
    if not isinstance(data, dict):
        raise InputError(file, "", "expected the front matter to be a mapping of keys", 2)
    return data, key_lines, "".join(lines[end + 1 :]).strip() + "\n"
