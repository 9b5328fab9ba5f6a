"""The one place that knows where shipyard's files live."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path

    # inputs
    @property
    def repos_yaml(self) -> Path:
        return self.root / "repos.yaml"

    @property
    def tickets(self) -> Path:
        return self.root / "tickets"

    @property
    def skills(self) -> Path:
        return self.root / "skills"

    def ticket_file(self, ticket: str) -> Path:
        return self.tickets / f"{ticket}.md"

    def skill_file(self, name: str) -> Path:
        return self.skills / name / "SKILL.md"

    # state
    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def lock(self) -> Path:
        return self.state / ".lock"

    @property
    def lock_holder(self) -> Path:
        return self.state / ".lock.holder"

    @property
    def doit_db(self) -> Path:
        return self.state / ".doit.db"

    @property
    def running(self) -> Path:
        """The steps a ship runs now, `{"running": [task names]}`, for `doit serve`'s pages."""
        return self.state / "running.json"

    def mirror(self, repo: str) -> Path:
        return self.state / "mirrors" / f"{repo}.git"

    def base_tree(self, repo: str, sha: str) -> Path:
        """The files of a repo at one commit, for gates that use a repo their ticket does not change."""
        return self.state / "trees" / repo / sha

    def baseline(self, repo: str, sha: str, gate: str) -> Path:
        return self.state / "baselines" / repo / sha / f"{gate}.json"

    @cache  # noqa: B019  (a workspace has one Paths, and asks for these thousands of times)
    def ticket_dir(self, ticket: str) -> Path:
        return self.state / ticket

    def ticket_json(self, ticket: str) -> Path:
        return self.ticket_dir(ticket) / "ticket.json"

    def plan(self, ticket: str) -> Path:
        return self.ticket_dir(ticket) / "plan.json"

    def ship_json(self, ticket: str) -> Path:
        return self.ticket_dir(ticket) / "ship.json"

    def report(self, ticket: str) -> Path:
        return self.ticket_dir(ticket) / "report.md"

    @cache  # noqa: B019
    def repo_dir(self, ticket: str, repo: str) -> Path:
        return self.ticket_dir(ticket) / repo

    def prompt(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "prompt.md"

    def patch(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "patch.diff"

    def agent_json(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "agent.json"

    def transcript(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "transcript.jsonl"

    def guard_log(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "guard.jsonl"

    def round_dir(self, ticket: str, repo: str, number: int) -> Path:
        """`rounds/N/`: repair round N's prompt, transcript and the gate reports that asked for it."""
        return self.repo_dir(ticket, repo) / "rounds" / str(number)

    def home(self, ticket: str, repo: str) -> Path:
        """The HOME agents and gates of one repo run with: shipyard's, not the user's."""
        return self.repo_dir(ticket, repo) / "home"

    def gate_home(self, ticket: str, repo: str, gate: str) -> Path:
        """The HOME one gate runs with: made anew for each run, never the agent's."""
        return self.repo_dir(ticket, repo) / "gates" / f"{gate}.home"

    def step_error(self, ticket: str, repo: str, step: str) -> Path:
        """Why a step of the repo failed last, for report.md (gone once it succeeds)."""
        return self.repo_dir(ticket, repo) / f"{step}.error"

    def failed_run(self, ticket: str, repo: str) -> Path:
        """`patch.failed`: the agent run that failed, on which inputs and why; while it is there and
        the inputs are the same, the agent is not run again (`doit forget` removes it)."""
        return self.repo_dir(ticket, repo) / "patch.failed"

    def mr_json(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "mr.json"

    def work(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "work"

    def verify(self, ticket: str, repo: str) -> Path:
        return self.repo_dir(ticket, repo) / "verify"

    def gate_report(self, ticket: str, repo: str, gate: str) -> Path:
        return self.repo_dir(ticket, repo) / "gates" / f"{gate}.json"

    def gate_failed(self, ticket: str, repo: str, gate: str) -> Path:
        """`gates/GATE.failed`: the inputs a gate failed on; while they are the same, its verdict
        stands and the gate is not run again (`doit forget gate:...` removes it)."""
        return self.repo_dir(ticket, repo) / "gates" / f"{gate}.failed"

    def gate_log(self, ticket: str, repo: str, gate: str) -> Path:
        return self.repo_dir(ticket, repo) / "gates" / f"{gate}.log"

    def relative(self, path: Path) -> str:
        """A path as artifacts spell it: relative to the workspace, never this machine's."""
        return path.relative_to(self.root).as_posix()
