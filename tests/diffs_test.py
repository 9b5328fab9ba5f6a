"""`doit diff:ID`: a ticket's whole change across its repos, and report.md's folded diff block."""

from __future__ import annotations

import io
import os

from conftest import Workspace
from tasks_test import SED, setup

from pipelines import config, diffs

# lib gets the codemod's change, app's codemod fails, docs is planned but has nothing to change
RUN = f"case $SHIPYARD_REPO in app) echo cannot parse app.py; exit 2;; docs) true;; *) {SED};; esac"


def mixed_ticket(run: str) -> str:
    """The ticket over lib, app and docs, with `run` as its codemod."""
    return f"""---
id: T-1
title: Replace old_api with new_api
repos: [lib, app, docs]
agent: {{kind: command, run: "{run}"}}
---
Replace `old_api` with `new_api` everywhere.
"""


MIXED = mixed_ticket(RUN)


def mixed(workspace: Workspace) -> None:
    setup(workspace)
    workspace.write("tickets/T-1.md", MIXED)


def test_every_repo_in_plan_order_its_diff_or_why_it_has_none(workspace: Workspace) -> None:
    mixed(workspace)
    assert workspace.doit("plan:T-1").returncode == 0
    before = [line for line in diffs.text(config.load(workspace.root), "T-1").splitlines() if line]
    assert len(before) == 3 and all(
        b.endswith("): no diff: not made yet; doit ship:T-1 makes it") for b in before
    )

    assert workspace.doit("ship").returncode != 0  # app's codemod fails
    said = diffs.text(config.load(workspace.root), "T-1")
    heads = [line for line in said.splitlines() if line.startswith("=== ")]
    assert [h.split()[1] for h in heads] == ["lib", "app", "docs"]  # the plan's order
    assert heads[0].endswith(" on main): +4 -4 in 2 files")
    assert heads[1].endswith(
        " on main): no diff: the patch step failed: command exited 2: cannot parse app.py"
    )
    assert heads[2].endswith(" on main): no change")
    lib = workspace.state("T-1", "lib", "patch.diff").read_text()
    assert f"{heads[0]}\n{lib.rstrip()}\n\n=== app" in said  # the patch as it is on disk


def test_colour_on_a_terminal_and_plain_text_when_piped(workspace: Workspace) -> None:
    setup(workspace)
    assert workspace.doit("ship").returncode == 0
    ws = config.load(workspace.root)
    piped = io.StringIO()
    diffs.show(ws, "T-1", piped)
    assert piped.getvalue() == diffs.text(ws, "T-1") and "\x1b[" not in piped.getvalue()

    main, secondary = os.openpty()  # a real terminal
    with open(secondary, "w") as terminal:
        diffs.show(ws, "T-1", terminal)
    shown = os.read(main, 1 << 16).decode()
    os.close(main)
    assert "\x1b[" in shown and "+def new_api(x):" in shown

    run = workspace.doit("diff:T-1")  # and the task, piped as tests run it
    assert run.returncode == 0, run.out + run.err
    assert diffs.text(ws, "T-1") in run.out and "\x1b[" not in run.out


def test_an_unknown_or_unplanned_ticket_is_one_line(workspace: Workspace) -> None:
    setup(workspace)
    run = workspace.doit("diff:NOPE")
    assert (run.returncode, run.err.strip()) == (3, "ERROR: diff:NOPE: no ticket 'NOPE'; tickets/ has: T-1")
    run = workspace.doit("diff:T-1/lib")
    assert (run.returncode, run.err.strip()) == (
        3,
        "ERROR: diff:T-1/lib: diff shows a whole ticket: doit diff:T-1",
    )
    run = workspace.doit("diff:T-1")
    assert run.returncode == 0 and "T-1: no plan yet; doit ship:T-1 plans it\n" in run.out


def diff_of(lines: int, width: int = 10) -> str:
    head = "diff --git a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n"
    return head + "".join(f"+{str(i).zfill(width)}\n" for i in range(lines - 4))


def test_a_long_diff_is_folded_naming_the_file_with_the_rest() -> None:
    block = diffs.folded(diff_of(500), "lib/patch.diff")
    assert block.startswith("```diff\ndiff --git a/n.txt b/n.txt\n")
    assert block.endswith("```\n... 300 more lines in [lib/patch.diff](lib/patch.diff)")
    assert block.count("\n+0") == diffs.MAX_LINES - 4  # the first 200 lines: 4 of head, 196 added
    wide = diffs.folded(diff_of(100, width=1000), "lib/patch.diff")  # past the bytes before the lines
    assert sum(len(line) + 1 for line in wide.splitlines()[1:-2]) <= diffs.MAX_BYTES
    assert wide.endswith(" more lines in [lib/patch.diff](lib/patch.diff)") and "+0000" in wide
    assert diffs.folded(diff_of(10), "x/patch.diff").endswith("+0000000005\n```")  # short: whole, no note
    assert diffs.folded("+" + "x" * diffs.MAX_BYTES + "\n", "x/patch.diff") == (
        "... 1 more line in [x/patch.diff](x/patch.diff)"
    )


def test_the_fence_is_longer_than_any_backticks_in_the_diff() -> None:
    diff = "--- a/README.md\n+++ b/README.md\n@@ -1 +1,3 @@\n+````python\n+x = 1\n+````\n"
    block = diffs.folded(diff, "docs/patch.diff")
    assert block.startswith("`````diff\n") and block.endswith("\n`````")
    assert diffs.folded("+plain\n", "docs/patch.diff") == "```diff\n+plain\n```"
