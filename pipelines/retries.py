"""Running a failed agent again is the user's choice, not a side effect of `doit ship`.

When the patch step's agent fails, `REPO/patch.failed` records on which inputs (`patches.digest`:
the prompt, the agent's settings, the skills) and why. While it is there and the inputs are the
same, the step fails at once and spends nothing. It goes away with `doit forget patch:ID/REPO`
(or `doit clean`): `tasks.dodo` removes it, as doit itself cannot tell a forgotten task from a
failed one (a failure drops the task's record too). Editing an input runs the agent anyway.

A transient failure (an API error, a timeout) is run again by the next `doit ship`, up to the
agent's `retries:` times for the same inputs, counted from the attempt records (spend.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pipelines import spend
from pipelines.files import read_json, write_json

if TYPE_CHECKING:
    from pipelines.agents import Result
    from pipelines.change import Change
    from pipelines.paths import Paths

ROLES = ("agent", "repair")  # the patch step's runs; a reviewer's failures are the review gate's


def hold(change: Change, key: str, result: Result) -> None:
    """Record the failed run, so that the next `doit ship` does not start it again unasked."""
    record = {"inputs": key, "error": result.error, "transient": result.transient}
    write_json(change.paths.failed_run(change.ticket_id, change.repo), record)


def check(change: Change, key: str) -> None:
    """Refuse to run the agent again on inputs it failed on, unless the failure was transient and
    `retries` allows another run."""
    record = change.paths.failed_run(change.ticket_id, change.repo)
    held = read_json(record) if record.exists() else None
    if held is None or held.get("inputs") != key:
        return
    failed, retries = failures(change, key), change.settings.agent.retries
    if not (held.get("transient") and failed <= retries):
        why = f"the agent failed on these inputs already ({held.get('error')})"
        raise change.fail("patch", f"{why}; doit forget patch:{change.name} to run it again")
    print(f"{change.name}: retrying after a transient failure ({failed} of {retries} retries)")


def failures(change: Change, key: str) -> int:
    """How many runs of the patch step failed on these inputs."""
    folder = change.paths.repo_dir(change.ticket_id, change.repo)
    return sum(
        a.get("role") in ROLES and a.get("inputs") == key and a.get("status") == "failed"
        for a in spend.attempts(folder)
    )


def release(paths: Paths, ticket: str, repo: str) -> None:
    """Let the repo's agent run again on the inputs it failed on. (Also as a run starts: a kill
    during the run is no failure of the agent's.)"""
    paths.failed_run(ticket, repo).unlink(missing_ok=True)


def every_held(paths: Paths) -> Iterator[tuple[str, str]]:
    """(ticket, repo) of every agent run held in state/."""
    tickets = [t for t in paths.state.iterdir() if t.is_dir()] if paths.state.is_dir() else []
    for ticket in tickets:
        for repo in ticket.iterdir():
            if paths.failed_run(ticket.name, repo.name).exists():
                yield ticket.name, repo.name
