"""Tickets: a title becomes a branch name's slug, cut after a whole word."""

from __future__ import annotations

import pytest
from conftest import Workspace, git

from pipelines import config, merge_requests, plan
from pipelines.change import Change, resolve
from pipelines.forges import Record
from pipelines.tickets import Ticket


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Rename collapse_spaces to squeeze_spaces", "rename-collapse-spaces-to-squeeze-spaces"),  # 40: whole
        ("Bill in the customer's currency at checkout and on invoices", "bill-in-the-customer-s-currency-at"),
        ("Make the invoice totals respect the customer currency", "make-the-invoice-totals-respect-the"),
        ("Speed up  the   parser!", "speed-up-the-parser"),
        (
            "Supercalifragilisticexpialidociousnessofeverything-more",
            "supercalifragilisticexpialidociousnessof",
        ),
        ("???", ""),
    ],
)
def test_a_slug_is_the_titles_words_cut_after_a_whole_word(title: str, slug: str) -> None:
    assert Ticket(id="T-1", title=title, body="").slug == slug
    assert len(slug) <= 40


TITLE = "Make the invoice totals respect the customer currency"
NEW, CUT = (
    "shipyard/T-1-make-the-invoice-totals-respect-the",
    "shipyard/T-1-make-the-invoice-totals-respect-the-cust",
)


def change_of(ws: Workspace) -> Change:
    remote = ws.remote("lib", {"a.py": "x = 1\n"})
    ws.write(
        "repos.yaml",
        f"defaults:\n  agent: {{kind: command, run: 'true'}}\nrepos:\n  lib: {{url: {remote}}}\n",
    )
    ws.write("tickets/T-1.md", f"---\nid: T-1\ntitle: {TITLE}\nrepos: [lib]\n---\nBody.\n")
    workspace = config.load(ws.root)
    plan.make(workspace, "T-1", repin=True)
    planned = plan.load(workspace, "T-1")
    assert planned is not None
    return resolve(workspace, planned, "lib")


def test_a_branch_pushed_when_slugs_were_cut_mid_word_keeps_its_name(workspace: Workspace) -> None:
    change = change_of(workspace)
    assert merge_requests.branch_of(change) == NEW  # nothing pushed yet: the whole-word name
    remote = workspace.remotes / "lib.git"
    git(remote, "branch", CUT, "main")  # pushed by an older shipyard, and state/ deleted since
    assert merge_requests.branch_of(change) == CUT
    git(remote, "branch", NEW, "main")  # the new name is there too: it is the one
    assert merge_requests.branch_of(change) == NEW
    record = Record(ticket="T-1", repo="lib", base=change.base, state="open", branch="shipyard/T-1-mine")
    record.write(change.paths.mr_json("T-1", "lib"))
    assert merge_requests.branch_of(change) == "shipyard/T-1-mine"  # what mr.json says it pushed wins
