"""index.html and report.html: the contract others build on (ids, data-attributes, the CSP),
everything escaped, nothing to load, and no link to a file that is not there."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import UTC, datetime
from pathlib import Path

from conftest import Workspace
from tasks_test import SED, setup

from pipelines import config, pages, states

PLANTED = "<script>alert(1)</script>"
# lib: the codemod, a planted script and an unused import (ruff fails it); app's agent fails;
# docs has nothing to change
RUN = (
    "case $SHIPYARD_REPO in app) echo cannot parse app.py; exit 2;; docs) true;;"
    f" *) {SED} && echo '{PLANTED}' > x.html && echo 'import os' > bad.py && seq 1 300 > n.txt;; esac"
)
TICKET = f"""---
id: T-1
title: Replace old_api {PLANTED}
repos: [lib, app, docs]
agent: {{kind: command, run: "{RUN}"}}
---
Replace `old_api` with `new_api` everywhere.
"""
SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def checked(page: Path) -> str:
    """The page, once it holds to what every page promises: one inline script, named by the
    CSP's hash; no URL to load; every relative link a file that exists."""
    text = page.read_text()
    (script,) = SCRIPT.findall(text)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert policy is not None and f"script-src 'sha256-{digest}'" in html.unescape(policy.group(1))
    assert "default-src 'none'" in html.unescape(policy.group(1))
    outside = SCRIPT.sub("", text)
    for tag in re.findall(r"<[a-z][^>]*>", outside):  # a URL in a tag is markup, not data
        assert "http://" not in tag and "https://" not in tag, tag
    assert not re.search(r"\bsrc=", outside) and "url(" not in text and "@import" not in text
    for href in re.findall(r'href="([^"]*)"', outside):
        target = html.unescape(href)
        if target.startswith("#"):
            assert f'id="{target[1:]}"' in text, target
        elif not target.startswith("data:"):
            assert (page.parent / target).is_file(), target
    return text


def test_a_failed_ship_draws_both_pages_escaped_and_self_contained(workspace: Workspace) -> None:
    setup(workspace)
    workspace.write("tickets/T-1.md", TICKET)
    assert workspace.doit("ship").returncode != 0  # ruff fails lib, app's agent fails
    index = checked(workspace.state("index.html"))
    report = checked(workspace.state("T-1", "report.html"))

    assert '<table id="matrix">' in index and '<tr data-ticket="T-1">' in index
    assert '<a href="T-1/report.html">T-1</a>' in index and '<p id="drawn">drawn at ' in index
    cells = re.findall(
        r'<td class="cell" data-ticket="T-1" data-repo="(\w+)" data-state="([^"]+)"[^>]*>(.*?)</td>', index
    )
    said = {repo: (word, text) for repo, word, text in cells}
    assert said.keys() == {"lib", "app", "docs"}
    assert said["lib"][0] == "failed" and "failed at gate ruff" in said["lib"][1]
    assert said["app"][0] == "failed" and "failed at patch" in said["app"][1]
    assert said["docs"][0] == "no change" and said["docs"][1].startswith(
        'docs: <span class="state">no change</span>'
    )
    assert all(f'data-filter="{word}"' in index for word in states.WORDS) and '<ul id="running">' in index

    for text in (index, report):
        assert PLANTED not in text and html.escape(PLANTED, quote=False) in text  # the title
    sections = dict(re.findall(r'<section class="repo" id="repo-(\w+)"[^>]*data-state="([^"]+)"', report))
    assert sections == {"lib": "failed", "app": "failed", "docs": "no change"}
    lib = report.split('id="repo-lib"')[1].split("</section>")[0]
    assert '<pre class="diff">' in lib and "&lt;script&gt;alert(1)&lt;/script&gt;" in lib  # in the diff
    assert "<h4>bad.py</h4>" in lib and "bad.py:1 F401" in lib  # ruff's finding, at its file
    assert '<details id="fold-lib-' in lib  # n.txt's 300 lines are folded past 200
    assert '<a href="lib/patch.diff">' in lib and '<a href="lib/gates/ruff.json">' in lib
    app = report.split('id="repo-app"')[1].split("</section>")[0]
    assert "cannot parse app.py" in app and "app/patch.diff" not in app


def test_a_ship_draws_the_index_once_and_not_again_on_a_rerun(workspace: Workspace) -> None:
    setup(workspace)
    first = workspace.doit("ship")
    assert first.returncode == 0 and "ship:index" in first.executed, first.out + first.err
    drawn = checked(workspace.state("index.html"))
    checked(workspace.state("T-1", "report.html"))
    assert 'data-repo="lib" data-state="open"' in drawn and 'data-repo="app" data-state="open"' in drawn
    again = workspace.doit("ship")
    assert again.returncode == 0 and "ship:index" not in again.executed
    assert workspace.state("index.html").read_text() == drawn


def test_a_thousand_repos_draw(workspace: Workspace) -> None:
    row = {
        "repo": "",
        "word": "open",
        "state": "open",
        "state_cell": "open",
        "cost_usd": 0.5,
        "duration_s": 61,
    }
    tickets = [{"id": "T-1", "title": "t", "rows": [{**row, "repo": f"r{n}"} for n in range(1000)]}]
    tickets[0].update(cost_usd=500.0, budget=None, link="")
    text = pages.draw_index(tickets, datetime(2025, 1, 1, tzinfo=UTC))
    assert text.count('<td class="cell"') == 1000 and "r999: " in text and "1 min 1 s" in text


def test_a_diff_splits_file_by_file() -> None:
    diff = "diff --git a/a.py b/a.py\n+x\ndiff --git a/b c b/b c\n-y\n"
    assert pages.split(diff) == [
        ("a.py", "diff --git a/a.py b/a.py\n+x\n"),
        ("b c", "diff --git a/b c b/b c\n-y\n"),
    ]
    assert pages.split("") == []


def test_a_ticket_not_planned_yet_has_its_row_and_no_link(workspace: Workspace) -> None:
    setup(workspace)
    drawn = pages.index(config.load(workspace.root))
    assert '<tr data-ticket="T-1">' in drawn and "not planned yet" in drawn and "report.html" not in drawn


def test_a_finding_is_drawn_under_the_diff_line_it_is_at() -> None:
    from pipelines.pages import _file

    body = (
        "diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,3 @@\n"
        " import sys\n+import os\n x = 1\n"
    )
    finding = {
        "file": "app.py",
        "line": 2,
        "rule": "F401",
        "message": "`os` imported but unused <b>",
        "gate": "ruff",
    }
    shown = str(_file("app.py", body, [finding])["shown"]).split("\n")
    at = next(i for i, line in enumerate(shown) if "finding-at" in line)
    assert "import os" in shown[at - 1] and "F401" in shown[at]
    assert "&lt;b&gt;" in shown[at]  # the message is text
