"""report.md: each repo's diff (folded past a size), why a step failed, and the next step."""

from __future__ import annotations

import json
import re

from conftest import Workspace
from diffs_test import mixed_ticket
from tasks_test import SED, setup
from tasks_test import TICKET as SED_TICKET

from pipelines import config, diffs, ship

# lib gets the codemod's change and 300 new lines, app's codemod fails, docs has nothing to change
RUN = (
    "case $SHIPYARD_REPO in app) echo cannot parse app.py; exit 2;; docs) true;;"
    f" *) {SED} && seq 1 300 > n.txt;; esac"
)
TICKET = mixed_ticket(RUN)


def sections(report: str) -> dict[str, str]:
    return {part.split("\n", 1)[0]: part for part in report.split("\n## ")[1:]}


def test_the_report_shows_each_diff_folded_why_a_step_failed_and_what_to_do_next(
    workspace: Workspace,
) -> None:
    setup(workspace)
    workspace.write("tickets/T-1.md", TICKET)
    assert workspace.doit("ship").returncode != 0  # app's codemod fails; the run still writes report.md
    report = workspace.state("T-1", "report.md").read_text()
    lib, app, docs = (sections(report)[repo] for repo in ("lib", "app", "docs"))

    patch = workspace.state("T-1", "lib", "patch.diff").read_text().splitlines()
    assert "```diff\n" + "\n".join(patch[: diffs.MAX_LINES]) + "\n```\n" in lib
    assert f"... {len(patch) - diffs.MAX_LINES} more lines in [lib/patch.diff](lib/patch.diff)" in lib
    assert "[lib/patch.diff](lib/patch.diff)" in lib.split("```diff")[0]  # linked as it exists

    assert "- No patch: the agent's step failed: command exited 2: cannot parse app.py; " in app
    assert "app/patch.diff" not in app and "```" not in app
    assert "- The agent changed nothing" in docs and "```" not in docs

    nexts = [part.rstrip().splitlines()[-1] for part in (lib, app, docs)]  # each section ends with it
    assert nexts[0].startswith("Next: review the merge request at ") and nexts[0].endswith(
        ", then `doit land:T-1`."
    )
    assert nexts[1] == "Next: `doit forget patch:T-1/app` to run the agent again."
    assert nexts[2].startswith("Next: nothing, unless docs should change")

    folder = workspace.state("T-1")
    for target in re.findall(r"\]\(([^)]+)\)", report):  # no link to a file that is not there
        assert (folder / target).exists(), target


def test_a_gate_says_its_counts_once() -> None:
    baseline = {"gate": "ruff", "status": "pass", "findings": [], "pre_existing": [{}] * 298}
    assert ship.gate_said({**baseline, "summary": "0 new findings, 298 pre-existing"}) == (
        "pass, 0 new findings, 298 pre-existing"
    )
    failed = {"gate": "pytest", "status": "fail", "findings": [{}], "pre_existing": []}
    assert ship.gate_said({**failed, "summary": "1 of 3 tests failed"}) == (
        "fail, 1 new finding, 0 pre-existing (1 of 3 tests failed)"
    )


def test_a_patch_step_that_fails_after_a_shipped_patch_says_the_diff_is_the_earlier_one(
    workspace: Workspace,
) -> None:
    setup(workspace)
    assert workspace.doit("ship").returncode == 0
    ticket = workspace.root / "tickets/T-1.md"
    ticket.write_text(ticket.read_text().replace('run: "', 'run: "echo no more; exit 3; '))
    assert workspace.doit("ship").returncode != 0
    lib = sections(workspace.state("T-1", "report.md").read_text())["lib"]
    assert (
        "- The last patch step failed: command exited 3: no more; the diff below is the patch before it."
        in lib
    )
    assert "```diff\n" in lib and "+def new_api(x):" in lib
    said = diffs.text(config.load(workspace.root), "T-1")
    assert "; an earlier patch: the patch step failed since: command exited 3: no more\n" in said


def test_a_run_that_stops_short_of_ship_still_says_the_states_of_now_in_ship_json(
    workspace: Workspace,
) -> None:
    setup(workspace, app_gates="[ruff]")
    assert workspace.doit("ship").returncode == 0
    worse = f"{SED}; if [ $SHIPYARD_REPO = app ]; then echo import os >> app/__init__.py; fi"
    workspace.write(
        "tickets/T-1.md", SED_TICKET.format(run=worse)
    )  # the ticket edited: app's new patch fails
    assert workspace.doit("ship").returncode != 0  # so ship:T-1 does not run
    shipped = json.loads(workspace.state("T-1", "ship.json").read_text())["repos"]
    states = {r["repo"]: r["state"] for r in shipped}
    assert states["app"].startswith("outdated (it holds an older patch"), states
    assert states["lib"] == "open"
