"""One ticket's change in one repo, resolved once: what every per-repo step works from."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.config import RepoSettings, Workspace
from pipelines.errors import StepError
from pipelines.paths import Paths
from pipelines.plan import Entry, Plan, load
from pipelines.tickets import Ticket


@dataclass(frozen=True)
class Change:
    workspace: Workspace
    ticket: Ticket
    plan: Plan
    entry: Entry
    settings: RepoSettings

    @property
    def repo(self) -> str:
        return self.entry.name

    @property
    def ticket_id(self) -> str:
        return self.ticket.id

    @property
    def base(self) -> str:
        return self.entry.base

    @property
    def paths(self) -> Paths:
        return self.workspace.paths

    @property
    def name(self) -> str:
        """How lines about it start: `T-42/billing`."""
        return f"{self.ticket.id}/{self.repo}"

    @property
    def allowed_config(self) -> str | None:
        """The warning every report of this change carries when its ticket lifts the rule that a
        patch is judged by the base's gate configuration (`allow_config:`)."""
        if not self.ticket.allow_config:
            return None
        files = ", ".join(self.ticket.allow_config)
        return f"allow_config: {files}: the patch may change how it is judged there"

    def fail(self, step: str, why: str) -> StepError:
        """The one line a failed step of this change says: ticket, repo, step and why."""
        return StepError(f"{self.name}: {step}: {why}")


def resolve(workspace: Workspace, plan: Plan, repo: str) -> Change:
    ticket = workspace.tickets[plan.ticket]
    return Change(workspace, ticket, plan, plan.entry(repo), workspace.settings(ticket, repo))


def of(workspace: Workspace, ticket_id: str, repo: str) -> Change:
    """The change of `repo` in the ticket's current plan (for a step run outside the graph)."""
    plan = load(workspace, ticket_id)
    if plan is None or repo not in plan.order:
        raise StepError(f"{ticket_id}/{repo}: not in the ticket's plan; run `doit plan:{ticket_id}` first")
    return resolve(workspace, plan, repo)
