"""`doit refresh:ID`: move a ticket onto its repos' branch tips. Each patch is re-applied three-way
on the new base: where it applies, the agent is not run again (the gates rerun and the merge request
is updated in place); where it conflicts, the repo's agent runs again there, told of the conflict."""

from __future__ import annotations

from pipelines import git, mirrors, patches, plan, prompts
from pipelines.change import resolve
from pipelines.config import Workspace
from pipelines.errors import StepError
from pipelines.files import read_json, write_atomic, write_json


def make(workspace: Workspace, ticket_id: str) -> None:
    paths = workspace.paths
    planned = plan.load(workspace, ticket_id)
    if planned is None:
        raise StepError(f"{ticket_id}: refresh: no plan yet; ship it first")
    entries, moved, said = [], {}, []
    for entry in planned.repos:
        tip = mirrors.tip(paths, entry.name, workspace.repos[entry.name], entry.default_branch)
        if tip == entry.base:
            entries.append(entry)
            continue
        patch_file = paths.patch(ticket_id, entry.name)
        patch = patch_file.read_bytes() if patch_file.exists() else b""
        again = git.reapply(paths.mirror(entry.name), tip, patch) if patch else b""
        if again is None:
            where = f"{tip[:12]}, where {entry.default_branch} is now"
            why = f"The patch made on {entry.base[:12]} does not apply to {where}."
            entries.append(entry.model_copy(update={"base": tip, "conflict": why}))
            said.append(f"{entry.name}: conflict on {tip[:12]}, its agent runs again")
        else:
            entries.append(entry.model_copy(update={"base": tip, "conflict": ""}))
            moved[entry.name] = again
            said.append(f"{entry.name}: re-applied on {tip[:12]}")
    # a new Plan, not a copy: a copy would keep the old one's index of entries by name
    new = plan.Plan.model_validate({**planned.model_dump(), "repos": [e.model_dump() for e in entries]})
    plan.write(paths.plan(ticket_id), new)
    for repo, patch in moved.items():  # the agent's run stands for the new base: kept, not repeated
        change = resolve(workspace, new, repo)
        prompts.make(change)
        write_atomic(paths.patch(ticket_id, repo), patch)
        record = paths.agent_json(ticket_id, repo)
        if record.exists():
            write_json(record, {**read_json(record), "inputs": patches.digest(change), "status": "done"})
    print(f"{ticket_id}: " + ("; ".join(said) if said else "every base is at its branch tip"))
