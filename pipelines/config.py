"""The workspace: `repos.yaml`, tickets and skills, validated before any work starts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines import envs, globs, plugins, skills, tickets, yamlfile
from pipelines.agents import AgentSettings
from pipelines.errors import InputError
from pipelines.forges import ForgeSettings
from pipelines.guard import PROTECTED
from pipelines.paths import Paths
from pipelines.yamlfile import KeyPath, dotted, line_of, validate

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateSpec(Strict):
    """One gate of a repo: `ruff`, or `{name: unit, kind: command, run: make test}`."""

    name: str
    kind: str | None = None
    args: tuple[str, ...] = ()
    run: str | None = None
    timeout: int = Field(default=900, gt=0)
    env: dict[str, str] = {}
    # repos whose change in the same ticket this gate runs against (their verify/ trees go
    # first on PYTHONPATH): the tests of a library's users see the library's new code
    uses: tuple[str, ...] = ()
    strict: bool = False  # judge every finding, not only those the base commit does not have
    paths: globs.Globs = ()  # gitignore-style globs: the changed files the gate looks at (default: all)
    network: bool | None = None  # reach the network from the sandbox (default: the repo's `network`)
    agent: dict[str, Any] | None = None  # the reviewer's agent, for a gate of kind `review`

    def covers(self, file: str) -> bool:
        return not self.paths or globs.matches(self.paths, file)

    @property
    def plugin(self) -> str:
        return self.kind or self.name


# Without a ticket nothing runs an agent: repos.yaml alone may leave it to the tickets' front matter.
NO_AGENT: Any = None


class Defaults(Strict):
    agent: dict[str, Any] | None = None
    gates: list[Any] = ["ruff", "pytest"]
    forge: dict[str, Any] = {"kind": "local"}
    branch_prefix: str = "shipyard/"
    env: str | dict[str, Any] = "auto"  # the repo's environment: auto | none | {python, install, setup}
    sandbox: bool = True  # `sandbox: off` runs agents and gates unconfined (every report warns)
    network: bool = False  # whether gates and the command agent may reach the network
    budget_usd: float | None = Field(default=None, ge=0)  # what a ticket's agent runs may cost in all
    planner: dict[str, Any] = {"kind": "deterministic"}  # or an agent: {kind: claude-code, model: ...}


class RepoSpec(Strict):
    url: str
    default_branch: str | None = None  # None: the branch the remote's HEAD names (the plan records it)
    description: str = ""
    skills: tuple[str, ...] = ()
    seed: str | None = None
    protect: globs.Globs = PROTECTED  # gitignore-style globs the agent must not change (gate and CI config)
    agent: dict[str, Any] | None = None
    gates: list[Any] | None = None
    forge: dict[str, Any] | None = None
    branch_prefix: str | None = None
    env: str | dict[str, Any] | None = None
    sandbox: bool | None = None
    network: bool | None = None
    budget_usd: float | None = Field(default=None, ge=0)


class ReposFile(Strict):
    defaults: Defaults = Defaults()
    repos: dict[str, RepoSpec]


@dataclass(frozen=True)
class RepoSettings:
    """Everything one repo of one ticket runs with: repos.yaml defaults < repo < ticket."""

    name: str
    spec: RepoSpec
    agent: AgentSettings  # the agent backend's Settings
    gates: tuple[GateSpec, ...]
    forge: ForgeSettings  # the forge backend's Settings
    branch_prefix: str
    env: envs.Setting
    budget_usd: float | None  # the ticket's budget as this repo's runs see it (None: no limit)


@dataclass(frozen=True)
class Workspace:
    paths: Paths
    defaults: Defaults
    repos: dict[str, RepoSpec]
    tickets: dict[str, tickets.Ticket]
    skills: dict[str, skills.Skill]
    lines: dict[KeyPath, int]
    _settings: dict[tuple[str, str], RepoSettings] = field(default_factory=dict, compare=False, repr=False)

    def sandboxed(self, repo: str) -> bool:
        """Whether agents and gates of `repo` run in the sandbox (`sandbox: off` says no)."""
        own = self.repos[repo].sandbox
        return self.defaults.sandbox if own is None else own

    def env_setting(self, repo: str) -> envs.Setting:
        """The env `repos.yaml` gives `repo` (a ticket may say otherwise for its own run)."""
        return self._resolve(None, repo).env

    def network(self, repo: str, gate: GateSpec | None = None) -> bool:
        """Whether the command agent (or `gate`) of `repo` may reach the network."""
        if gate is not None and gate.network is not None:
            return gate.network
        own = self.repos[repo].network
        return self.defaults.network if own is None else own

    def settings(self, ticket: tickets.Ticket, repo: str) -> RepoSettings:
        key = (ticket.id, repo)
        if key not in self._settings:
            self._settings[key] = self._resolve(ticket, repo)
        return self._settings[key]

    def _resolve(self, ticket: tickets.Ticket | None, repo: str) -> RepoSettings:
        """Merge defaults < repo < ticket; without a ticket, check what repos.yaml alone says."""
        spec = self.repos[repo]
        layers = [
            ("repos.yaml", ("defaults",), self.defaults.model_dump(exclude_none=True), self.lines),
            ("repos.yaml", ("repos", repo), spec.model_dump(exclude_none=True), self.lines),
        ]
        if ticket is not None:
            layers.append((ticket.file, (), ticket.overrides, ticket.lines))
        merged: dict[str, Any] = {}
        where: dict[str, tuple[str, KeyPath, dict[KeyPath, int]]] = {}
        for file, base, values, lines in layers:
            for key in ("agent", "gates", "forge", "branch_prefix", "env", "budget_usd"):
                if key not in values:
                    continue
                old = merged.get(key)
                new = values[key]
                same_kind = isinstance(old, dict) and isinstance(new, dict)
                if same_kind and new.get("kind", old.get("kind")) == old.get("kind"):
                    new = {**old, **new}
                merged[key] = new
                where[key] = (file, (*base, key), lines)
        if "agent" not in merged and ticket is not None:
            raise InputError(
                "repos.yaml",
                "defaults.agent",
                f"no agent is configured for repo {repo!r}; expected e.g. {{kind: command, run: ...}}",
                self.lines.get(("defaults",)),
            )
        return RepoSettings(
            name=repo,
            spec=spec,
            agent=_backend("agents", merged["agent"], *where["agent"]) if "agent" in merged else NO_AGENT,
            gates=_gates(merged["gates"], *where["gates"], self.repos),
            forge=_backend("forges", merged["forge"], *where["forge"]),
            branch_prefix=merged["branch_prefix"],
            env=_env(merged["env"], *where["env"]),
            budget_usd=merged.get("budget_usd"),
        )

    def planner(self, ticket: tickets.Ticket) -> Any:
        """The planner of a ticket: None for the deterministic one, else an agent backend's
        Settings (defaults < the ticket's front matter)."""
        value, file, path, lines = self.defaults.planner, "repos.yaml", ("defaults", "planner"), self.lines
        if "planner" in ticket.overrides:
            own = ticket.overrides["planner"]
            same = isinstance(own, dict) and own.get("kind", value.get("kind")) == value.get("kind")
            value = {**value, **own} if same else own
            file, path, lines = ticket.file, ("planner",), ticket.lines
        if isinstance(value, dict) and value.get("kind") == "deterministic":
            if extra := sorted(set(value) - {"kind"}):
                at = line_of(lines, (*path, extra[0]))
                raise InputError(
                    file, dotted((*path, extra[0])), "the deterministic planner takes no settings", at
                )
            return None
        return _backend("agents", value, file, path, lines)

    def budget(self, ticket: tickets.Ticket) -> float | None:
        """The ticket's budget for runs that belong to no one repo (the planner)."""
        own = ticket.overrides.get("budget_usd")
        return own if own is not None else self.defaults.budget_usd

    def open_tickets(self) -> list[tickets.Ticket]:
        return [t for t in self.tickets.values() if t.status == "open"]


def _backend(family: str, value: Any, file: str, path: KeyPath, lines: dict) -> Any:
    """The backend's own Settings model for `value` (the family's interface types it)."""
    line = line_of(lines, path)
    if not isinstance(value, dict) or "kind" not in value:
        raise InputError(file, dotted((*path, "kind")), "required key is missing", line)
    try:
        module = plugins.load(family, value["kind"])
    except KeyError:
        known = ", ".join(plugins.kinds(family))
        raise InputError(
            file,
            dotted((*path, "kind")),
            f"unknown {family[:-1]} {value['kind']!r}; expected one of: {known}",
            line_of(lines, (*path, "kind")),
        ) from None
    return validate(module.Settings, value, file, lines, path)


def _env(value: Any, file: str, path: KeyPath, lines: dict) -> envs.Setting:
    if value in ("auto", "none"):
        return value
    if isinstance(value, dict):
        return validate(envs.Explicit, value, file, lines, path)
    raise InputError(
        file,
        dotted(path),
        f"expected auto, none or {{python, install, setup}}, got {value!r}",
        line_of(lines, path),
    )


def _gates(value: Any, file: str, path: KeyPath, lines: dict, known_repos: dict) -> tuple[GateSpec, ...]:
    if not isinstance(value, list):
        raise InputError(file, dotted(path), f"expected a list of gates, got {value!r}", line_of(lines, path))
    gates: list[GateSpec] = []
    for index, item in enumerate(value):
        at = (*path, index)
        data = {"name": item} if isinstance(item, str) else item
        gate = validate(GateSpec, data, file, lines, at)
        if gate.plugin not in plugins.kinds("gates"):
            raise InputError(
                file,
                dotted(at),
                f"unknown gate {gate.plugin!r}; expected one of: "
                f"{', '.join(plugins.kinds('gates'))} (or kind: command with run:)",
                line_of(lines, at),
            )
        if gate.plugin == "command" and not gate.run:
            raise InputError(file, dotted((*at, "run")), "required for a command gate", line_of(lines, at))
        _reviewer(gate, file, at, lines)
        if unknown := [r for r in gate.uses if r not in known_repos]:
            raise InputError(file, dotted((*at, "uses")), f"unknown repo {unknown[0]!r}", line_of(lines, at))
        if any(g.name == gate.name for g in gates):
            raise InputError(file, dotted(at), f"gate {gate.name!r} is listed twice", line_of(lines, at))
        if not NAME.match(gate.name):
            raise InputError(
                file, dotted((*at, "name")), "expected letters, digits, '.', '_' or '-'", line_of(lines, at)
            )
        gates.append(gate)
    return tuple(gates)


def _reviewer(gate: GateSpec, file: str, at: KeyPath, lines: dict) -> None:
    """A review gate's `agent`: a model agent (a command cannot review), valid as its backend's
    Settings; no other gate takes one."""
    where = (*at, "agent")
    if gate.plugin != "review":
        if gate.agent is not None:
            raise InputError(
                file, dotted(where), "only a gate of kind review takes an agent", line_of(lines, where)
            )
        return
    models = ", ".join(k for k in plugins.kinds("agents") if k != "command")
    if gate.agent is None:
        why = f"required for a review gate: the reviewer's agent ({models}), e.g. {{kind: claude-code}}"
        raise InputError(file, dotted(where), why, line_of(lines, at))
    if gate.agent.get("kind") == "command":
        why = f"a command cannot review a patch; expected a model agent: {models}"
        raise InputError(file, dotted((*where, "kind")), why, line_of(lines, (*where, "kind")))
    _backend("agents", gate.agent, file, where, lines)


def load(root: Path) -> Workspace:
    """Read and check every input; the first problem is raised as one InputError."""
    paths = Paths(root)
    if not paths.repos_yaml.is_file():
        raise InputError("repos.yaml", "", "not found; shipyard needs one at the workspace's root")
    data, lines = yamlfile.load(paths.repos_yaml.read_text(), "repos.yaml")
    if not isinstance(data, dict):
        raise InputError("repos.yaml", "", "expected a mapping with 'defaults' and 'repos'", 1)
    parsed = validate(ReposFile, data, "repos.yaml", lines)
    for name in parsed.repos:
        if not NAME.match(name):
            raise InputError(
                "repos.yaml",
                f"repos.{name}",
                "expected a name of letters, digits, '.', '_' or '-'",
                lines.get(("repos", name)),
            )
    all_skills = skills.load_all(paths.skills, root)
    for name, spec in parsed.repos.items():
        for index, skill in enumerate(spec.skills):
            _known_skill(skill, all_skills, "repos.yaml", ("repos", name, "skills", index), lines)
    workspace = Workspace(
        paths, parsed.defaults, parsed.repos, tickets.load_all(paths.tickets, root), all_skills, lines
    )
    uses = {name: [u for g in workspace._resolve(None, name).gates for u in g.uses] for name in parsed.repos}
    if loop := cycle(uses):
        path = ("repos", loop[0], "gates")
        why = f"`uses:` goes round in a cycle: {' -> '.join(loop)}; a repo's gate cannot use its own change"
        raise InputError("repos.yaml", dotted(path), why, line_of(lines, path))
    for ticket in workspace.tickets.values():
        _check_ticket(workspace, ticket)
    return workspace


def cycle(uses: Mapping[str, Sequence[str]]) -> list[str] | None:
    """The first cycle in a graph of repos (`uses:`, or a plan's `after`): `lib -> app -> lib`,
    or `lib -> lib`, if any."""
    done: set[str] = set()

    def visit(repo: str, trail: list[str]) -> list[str] | None:
        if repo in trail:
            return [*trail[trail.index(repo) :], repo]
        if repo in done:
            return None
        for other in uses.get(repo, ()):
            if found := visit(other, [*trail, repo]):
                return found
        done.add(repo)
        return None

    return next((c for repo in uses if (c := visit(repo, []))), None)


def _check_ticket(workspace: Workspace, ticket: tickets.Ticket) -> None:
    """The ticket's repos and skills exist, and its overrides make valid settings for each repo."""
    for index, repo in enumerate(ticket.repos or ()):
        if repo not in workspace.repos:
            raise InputError(
                ticket.file,
                f"repos[{index}]",
                f"unknown repo {repo!r}; expected one of: {', '.join(workspace.repos)}",
                line_of(ticket.lines, ("repos", index)),
            )
    for index, skill in enumerate(ticket.skills):
        _known_skill(skill, workspace.skills, ticket.file, ("skills", index), ticket.lines)
    if ticket.status == "open":
        workspace.planner(ticket)
        for repo in ticket.repos or workspace.repos:
            workspace.settings(ticket, repo)


def _known_skill(name: str, known: dict, file: str, path: KeyPath, lines: dict) -> None:
    if name not in known:
        raise InputError(
            file,
            dotted(path),
            f"unknown skill {name!r}; expected a folder skills/{name}/ with a SKILL.md",
            line_of(lines, path),
        )
