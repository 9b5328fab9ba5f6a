"""The `prompt:ID/REPO` step: exactly what the agent is told."""

from __future__ import annotations

from pipelines import plugins, templates
from pipelines.change import Change
from pipelines.config import RepoSettings
from pipelines.files import write_atomic

TEMPLATE = "prompt.md.j2"


def make(change: Change) -> None:
    settings, skills = change.settings, change.workspace.skills
    text = templates.render(
        TEMPLATE,
        ticket=change.ticket,
        repo={**change.entry.model_dump(), "description": settings.spec.description},
        siblings=[name for name in change.plan.order if name != change.repo],
        skills=[skills[name] for name in change.entry.skills],
        gates=[g.name for g in settings.gates],
        skills_dir=skills_dir(settings.agent.kind),
        env=in_env(settings),
    )
    write_atomic(change.paths.prompt(change.ticket_id, change.repo), text)


def in_env(settings: RepoSettings) -> bool:
    """Whether the agent works in the repo's own environment (model agents, unless `env: none`)."""
    return plugins.agent(settings.agent.kind).USES_ENV and settings.env != "none"


def skills_dir(agent_kind: str) -> str | None:
    """Where the agent finds the skills shipyard installs in its worktree, if it reads them."""
    return plugins.agent(agent_kind).SKILLS_DIR
