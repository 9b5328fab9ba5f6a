"""The pages of a real ship, in headless chromium: state/index.html and state/ID/report.html.

One ship of four repos, shared by the file:// tests: `gated` fails its gate, `quiet` changes
nothing, `hostile` adds a file holding a script (and so a diff line holding it), `landed` is merged.
SHIPYARD_SCREENSHOTS=1 also writes docs/index.png and docs/report.png, the README's pictures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import ROOT, Workspace

pytest.importorskip("playwright", reason="the dev extra installs playwright")
from browser import CHROMIUM, Browsing, Tab, browser  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: .ci/chromium installs it")

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '<img src="x" onerror="window.__pwned = 2">'
EXPECTED = {"gated": "failed", "quiet": "no change", "hostile": "open", "landed": "landed"}
WORDS_SHOWN = {"gated": "failed at gate check", "quiet": "no change", "hostile": "open", "landed": "landed"}
FILES = {"README.md": "# a repo\n", "lib.py": "def old_api(x):\n    return x + 1\n"}
RENAME = "sed -i 's/old_api/new_api/g' lib.py"
TICKET = "---\nid: T-1\ntitle: Replace old_api with new_api\nrepos: [{repos}]\n---\nRename it.\n"


def check(run: str) -> str:
    return f"[{{name: check, kind: command, run: {json.dumps(run)}}}]"


def write_ship(ws: Workspace, agents: dict[str, str], gates: dict[str, str]) -> None:
    lines = ["defaults:", f"  gates: {check('true')}", "  env: none", "repos:"]
    for repo, run in agents.items():
        url = (
            ws.remote(repo, FILES)
            if not (ws.remotes / f"{repo}.git").exists()
            else ws.remotes / f"{repo}.git"
        )
        gate = f", gates: {check(gates[repo])}" if repo in gates else ""
        lines.append(f"  {repo}: {{url: {url}, agent: {{kind: command, run: {json.dumps(run)}}}{gate}}}")
    ws.write("repos.yaml", "\n".join(lines) + "\n")
    ws.write("tickets/T-1.md", TICKET.format(repos=", ".join(agents)))


@pytest.fixture(scope="module")
def ship(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("pages") / "ws")
    hostile = ws.write("hostile.sh", f"printf '%s\\n' '{SCRIPT}' '{IMG}' > page.html\n")
    agents = {"gated": RENAME, "quiet": "true", "hostile": f"sh {hostile}", "landed": RENAME}
    write_ship(ws, agents, {"gated": "false"})
    first = ws.doit("ship")
    assert first.returncode != 0 and "T-1/gated: gate check: fail" in first.out + first.err, first.out
    landing = ws.doit("land:T-1/landed")
    assert landing.returncode == 0, landing.out + landing.err
    ws.doit("ship")  # the pages again, now the landing is on disk (gated still fails)
    return ws


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browsing]:
    with browser() as browsing:
        yield browsing


def opened(tab: Tab, page: Path) -> Tab:
    assert page.exists(), f"{page} was not written (pipelines/pages.py)"
    tab.page.goto(page.as_uri())
    tab.page.wait_for_load_state("load")
    return tab


def looked_over(tab: Tab, page: Path) -> None:
    """What every page owes: no error, nothing fetched but itself, a CSP, links that resolve, no
    script of a patch run."""
    assert tab.errors == []
    assert tab.outside("file:", "data:") == []
    assert tab.page.locator('meta[http-equiv="Content-Security-Policy"]').count() == 1
    hrefs = tab.page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    for href in hrefs:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, f"{page.name}: link {href!r} is not relative"
        if parts.path:
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.exists(), f"{page.name}: link {href!r} names no file"
        elif parts.fragment:  # a place on this page
            assert tab.page.locator(f"[id={json.dumps(unquote(parts.fragment))}]").count() == 1, href
    assert tab.page.evaluate("typeof window.__pwned") == "undefined"


def shoot(tab: Tab, name: str) -> None:
    if os.environ.get("SHIPYARD_SCREENSHOTS") == "1":
        tab.page.screenshot(path=str(ROOT / "docs" / name))


def word(state: str | None) -> str:
    return (state or "").replace("-", " ").replace("_", " ")


def test_index_shows_every_cell_in_its_state(ship: Workspace, chromium: Browsing) -> None:
    page = ship.state("index.html")
    with chromium.tab() as tab:
        opened(tab, page)
        looked_over(tab, page)
        cells = tab.page.locator("#matrix td.cell")
        seen = {}
        for i in range(cells.count()):
            cell = cells.nth(i)
            assert cell.get_attribute("data-ticket") == "T-1"
            seen[cell.get_attribute("data-repo")] = (
                word(cell.get_attribute("data-state")),
                cell.inner_text(),
            )
        assert {repo: state for repo, (state, _) in seen.items()} == EXPECTED
        for repo, (_, text) in seen.items():
            assert WORDS_SHOWN[repo] in text, f"{repo}: {text!r}"
        shoot(tab, "index.png")
        # a state's filter box, unticked, hides that state's cells and nothing else
        control = tab.page.locator('[data-filter="failed"]').first
        assert control.count() == 1, "no data-filter control for failed"
        control.click()
        visible = [r for r in EXPECTED if tab.page.locator(f'td.cell[data-repo="{r}"]').is_visible()]
        assert visible == [r for r in EXPECTED if r != "gated"]


def test_report_shows_each_repo_and_its_diff_and_runs_none_of_it(ship: Workspace, chromium: Browsing) -> None:
    page = ship.state("T-1", "report.html")
    with chromium.tab() as tab:
        opened(tab, page)
        looked_over(tab, page)
        for repo, state in EXPECTED.items():
            section = tab.page.locator(f"section.repo#repo-{repo}")
            assert section.count() == 1, f"no section for {repo}"
            assert word(section.get_attribute("data-state")) == state
            diff = ship.state("T-1", repo, "patch.diff").read_text()
            if not diff:
                continue
            shown = section.locator("pre.diff").inner_text()
            for line in diff.splitlines():
                if line.strip():
                    assert line.rstrip() in shown, f"{repo}: diff line {line!r} not on the page"
        assert SCRIPT in tab.page.locator("#repo-hostile pre.diff").inner_text()  # shown, as text
        assert tab.page.locator("#repo-hostile pre.diff script, #repo-hostile pre.diff img").count() == 0
        shoot(tab, "report.png")


def test_the_served_page_shows_a_step_finishing_without_a_reload(tmp_path: Path, chromium: Browsing) -> None:
    """`doit serve`: a gate waits for the test's word; the open page lists it running, then shows the
    merge request it let through, and the page was never loaded again."""
    from pipelines.paths import Paths
    from pipelines.serve import Server

    ws = Workspace(tmp_path / "ws")
    write_ship(ws, {"lib": RENAME}, {"lib": "false"})
    assert ws.doit("ship").returncode != 0
    go = ws.root / "go"  # the workspace is readable in the sandbox
    write_ship(ws, {"lib": RENAME}, {"lib": f"until [ -e {go} ]; do sleep 0.05; done"})
    server = Server(Paths(ws.root), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shipping = None
    try:
        with chromium.tab() as tab:
            tab.page.goto(server.url + "index.html")
            # expect() polls in Playwright's own script: a page's CSP forbids wait_for_function's eval
            lib, running = tab.page.locator('td.cell[data-repo="lib"]'), tab.page.locator("#running")
            expect(lib).to_have_attribute("data-state", re.compile("^failed"), timeout=10_000)
            tab.page.evaluate("window.__same_page = 1")
            shipping = subprocess.Popen(
                [sys.executable, "-m", "doit", "ship"],
                cwd=ws.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            expect(running).to_contain_text("gate:T-1/lib/check", timeout=60_000)  # the gate waits on `go`
            go.touch()
            out, err = shipping.communicate(timeout=120)
            assert shipping.returncode == 0, out.decode() + err.decode()
            expect(lib).to_have_attribute("data-state", "open", timeout=20_000)
            expect(running).not_to_contain_text("gate:", timeout=20_000)
            assert tab.page.evaluate("window.__same_page") == 1  # changed in place, not reloaded
            assert tab.errors == []
    finally:
        if shipping is not None and shipping.poll() is None:
            go.touch()
            shipping.kill()
        server.shutdown()
        server.server_close()


def test_the_evals_page_shows_each_scenario_in_words(tmp_path: Path, chromium: Browsing) -> None:
    from pipelines import pages

    hostile = "<script>window.__pwned = 1</script>"
    results = [
        {
            "scenario": "shipyard/runs-tests",
            "status": "pass",
            "checks": "the agent runs the tests",
            "why": "",
        },
        {
            "scenario": "shipyard/no-push",
            "status": "vacuous",
            "checks": hostile,
            "why": "the fail fixture passes",
        },
    ]
    suites = [{"name": "shipyard", "passed": 1, "total": 2, "rate": 0.5, "least": 1.0}]
    page = tmp_path / "evals" / "report.html"
    page.parent.mkdir()
    (page.parent / "report.md").write_text("# Evals\n")
    page.write_text(pages.page("evals.html.j2", results=results, live=[], suites=suites))
    with chromium.tab() as tab:
        opened(tab, page)
        looked_over(tab, page)
        rows = tab.page.locator("#scenarios tr.scenario")
        assert [rows.nth(i).get_attribute("data-status") for i in range(rows.count())] == ["pass", "vacuous"]
        assert hostile in tab.page.locator("#scenarios").inner_text()  # shown as text, never run
