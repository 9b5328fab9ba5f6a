"""Tickets: `tickets/<ID>.md`, YAML front matter and a markdown body."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines import frontmatter, globs
from pipelines.errors import InputError
from pipelines.files import write_json
from pipelines.yamlfile import KeyPath, validate

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SLUG_LENGTH = 40  # of a branch name's tail: enough words to say what the change is, few enough to read


class TicketFront(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    title: str
    status: Literal["open", "closed", "landed"] = "open"
    repos: list[str] | None = None
    skills: list[str] = []
    labels: list[str] = []
    link: str | None = None
    # per-ticket overrides of repos.yaml settings
    agent: dict[str, Any] | None = None
    gates: list[Any] | None = None
    forge: dict[str, Any] | None = None
    branch_prefix: str | None = None
    env: str | dict[str, Any] | None = None
    budget_usd: float | None = Field(default=None, ge=0)
    planner: dict[str, Any] | None = None
    allow_config: globs.Globs = ()  # gate configuration the patch may change (every report warns)


@dataclass(frozen=True)
class Ticket:
    id: str
    title: str
    body: str
    status: str = "open"
    repos: tuple[str, ...] | None = None
    skills: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    link: str | None = None
    allow_config: tuple[str, ...] = ()  # globs: files whose gate configuration the patch may change
    overrides: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    lines: dict[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def slug(self) -> str:
        return slug(self.title)

    @property
    def cut_slug(self) -> str:
        """The slug as shipyard cut it before it kept words whole: branches pushed then carry it."""
        return _words(self.title)[:SLUG_LENGTH].rstrip("-")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["lines"]
        return data


def slug(title: str) -> str:
    """The title as a branch name's tail: its words in lower case joined by '-', as many whole
    words as fit in SLUG_LENGTH characters (a first word longer than that is cut)."""
    words = _words(title)
    if len(words) <= SLUG_LENGTH:
        return words
    return words[: SLUG_LENGTH + 1].rpartition("-")[0] or words[:SLUG_LENGTH]


def _words(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def load_all(tickets_dir: Path, root: Path) -> dict[str, Ticket]:
    if not tickets_dir.is_dir():
        return {}
    return {p.stem: load(p, root) for p in sorted(tickets_dir.glob("*.md"))}


def load(path: Path, root: Path) -> Ticket:
    file = path.relative_to(root).as_posix()
    data, lines, body = frontmatter.parse(path.read_text(), file)
    front = validate(TicketFront, data, file, lines)
    if front.id != path.stem:
        raise InputError(
            file,
            "id",
            f"expected {path.stem!r} (the file's name), got {front.id!r}",
            lines.get(("id",)),
        )
    if not ID_PATTERN.match(front.id):
        raise InputError(
            file,
            "id",
            f"expected letters, digits, '.', '_' or '-', got {front.id!r}",
            lines.get(("id",)),
        )
    if not front.title.strip():
        raise InputError(file, "title", "expected a non-empty title", lines.get(("title",)))
    overrides = {
        key: value
        for key in ("agent", "gates", "forge", "branch_prefix", "env", "budget_usd", "planner")
        if (value := getattr(front, key)) is not None
    }
    return Ticket(
        id=front.id,
        title=front.title.strip(),
        body=body,
        status=front.status,
        repos=tuple(front.repos) if front.repos is not None else None,
        skills=tuple(front.skills),
        labels=tuple(front.labels),
        link=front.link,
        allow_config=tuple(front.allow_config),
        overrides=overrides,
        file=file,
        lines=lines,
    )


def write(ticket_file: Path, root: Path, target: Path) -> None:
    """The `ticket:ID` step: the normalised ticket, as every later step reads it."""
    write_json(target, load(ticket_file, root).to_json())
