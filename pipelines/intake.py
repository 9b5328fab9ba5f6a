"""`doit intake url=ISSUE_URL`: a GitHub or GitLab issue becomes tickets/<ID>.md."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml

from pipelines import forges, frontmatter, plugins
from pipelines.errors import InputError, StepError
from pipelines.files import write_atomic

TOKENS = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


def forge_of(url: str) -> str:
    if "/-/issues/" in url:
        return "gitlab"
    if "/issues/" in url:
        return "github"
    raise StepError(f"intake: {url} is not a GitHub (…/issues/N) or GitLab (…/-/issues/N) issue URL")


def write(root: Path, url: str, token_env: str | None = None) -> Path:
    """Write the issue's ticket; an existing ticket keeps the keys the user added to it, and is
    rewritten only when the issue changed."""
    kind = forge_of(url)
    env_name = token_env or TOKENS[kind]
    other = f"name the variable that holds it: doit intake url={url} token_env=NAME"
    issue = plugins.load("forges", kind).read_issue(url, forges.token(env_name, None, f"intake {url}", other))
    ticket_id = f"{issue['repo'].split('/')[-1]}-{issue['number']}"
    target = root / "tickets" / f"{ticket_id}.md"
    front: dict[str, Any] = {"id": ticket_id}
    if target.exists():
        with contextlib.suppress(InputError):  # a broken ticket is written anew
            front, _, _ = frontmatter.parse(target.read_text(), str(target.relative_to(root)))
    front.update(id=ticket_id, title=issue["title"], labels=list(issue["labels"]), link=issue["url"])
    text = f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True)}---\n{issue['body'].strip()}\n"
    if target.exists() and target.read_text() == text:
        print(f"{target.relative_to(root)} is up to date with {url}")
    else:
        write_atomic(target, text)
        print(f"wrote {target.relative_to(root)} from {url}")
    return target
