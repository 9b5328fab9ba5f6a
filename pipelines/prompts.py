"""The `prompt:ID/REPO` step: exactly what the agent is told."""

from __future__ import annotations

from pipelines import plan, plugins, templates
from pipelines.config import RepoSettings, Workspace
from pipelines.files import write_atomic

TEMPLATE = "prompt.md.j2"


def make(workspace: Workspace, ticket_id: str, repo: str) -> None:
    ticket = workspace.tickets[ticket_id]
    planned = plan.load(workspace, ticket_id)
    entry = next(r for r in planned if r["name"] == repo)
    settings = workspace.settings(ticket, repo)
    text = templates.render(
        TEMPLATE,
        ticket=ticket,
        repo={**entry, "description": settings.spec.description},
        siblings=[r["name"] for r in planned if r["name"] != repo],
        skills=[workspace.skills[name] for name in entry["skills"]],
        gates=[g.name for g in settings.gates],
        skills_dir=skills_dir(settings.agent.kind),
        env=in_env(settings),
    )
    write_atomic(workspace.paths.prompt(ticket_id, repo), text)


def in_env(settings: RepoSettings) -> bool:
    """Whether the agent works in the repo's own environment (model agents, unless `env: none`)."""
    agent = plugins.load("agents", settings.agent.kind)
    return getattr(agent, "USES_ENV", False) and settings.env != "none"


def skills_dir(agent_kind: str) -> str | None:
    """Where the agent finds the skills shipyard installs in its worktree, if it reads them."""
    return getattr(plugins.load("agents", agent_kind), "SKILLS_DIR", None)
