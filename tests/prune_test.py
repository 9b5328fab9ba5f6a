"""`doit prune`: the state/ of deleted tickets and dropped repos, listed, then removed when asked;
nothing of a ticket or repo that exists, nor the lock, doit's database, evals or seeded remotes."""

from __future__ import annotations

from pathlib import Path

from conftest import Workspace, git

from pipelines import config, prune

LIB = {"lib/__init__.py": "def old_api(x):\n    return x + 1\n"}
APP = {"app/__init__.py": "from lib import old_api\n\nVALUE = old_api(41)\n"}
DOCS = {"docs/index.py": "NOTE = 'old_api is the entry point'\n"}
SED = "sed -i 's/old_api/new_api/g' $(git ls-files '*.py')"
TICKET = """---
id: {id}
title: Replace old_api in {repos}
repos: [{repos}]
agent: {{kind: command, run: "{run}"}}
---
Replace `old_api` with `new_api`.
"""
REPOS = """\
defaults:
  gates: [ruff]
  env: none
repos:
"""


def ticket(ws: Workspace, tid: str, repos: str) -> None:
    ws.write(f"tickets/{tid}.md", TICKET.format(id=tid, repos=repos, run=SED))


def listed(ws: Workspace) -> list[tuple[str, str]]:
    value = config.load(ws.root)
    return [(value.paths.relative(s.path), s.why) for s in prune.stale(value)]


def test_prune_lists_deleted_tickets_and_dropped_repos_and_removes_them_when_asked(
    workspace: Workspace,
) -> None:
    ws = workspace
    urls = {name: ws.remote(name, files) for name, files in (("lib", LIB), ("app", APP), ("docs", DOCS))}
    ws.write("repos.yaml", REPOS + "".join(f"  {n}: {{url: {u}}}\n" for n, u in urls.items()))
    ticket(ws, "T-1", "lib, docs")
    ticket(ws, "T-2", "lib, app")
    first = ws.doit("ship")
    assert first.returncode == 0, first.out + first.err
    assert ws.state("T-2", "app", "mr.json").is_file() and ws.state("mirrors", "app.git").is_dir()

    (ws.root / "tickets" / "T-2.md").unlink()
    ws.write("repos.yaml", REPOS + "".join(f"  {n}: {{url: {u}}}\n" for n, u in urls.items() if n != "app"))
    ticket(ws, "T-1", "lib")  # re-planned without docs
    edited = ws.doit("ship")
    assert edited.returncode == 0, edited.out + edited.err
    gone = [
        ("state/T-1/docs", "T-1's plan no longer has repo docs"),
        ("state/T-2", "ticket T-2 is no longer in tickets/"),
        ("state/mirrors/app.git", "repo app is no longer in repos.yaml"),
    ]
    assert listed(ws) == gone

    asked = ws.doit("prune")
    assert asked.returncode == 0, asked.out + asked.err
    for path, why in gone:
        assert ws.root.joinpath(path).exists()
        said = [line.split() for line in asked.out.splitlines()]
        assert any(words[0] == f"{path}/" and " ".join(words).endswith(why) for words in said if words)
    assert "`doit prune yes=1` removes them" in asked.out
    assert ws.doit("prune", "yes=0").returncode == 0 and listed(ws) == gone  # only yes=1 removes

    done = ws.doit("prune", "yes=1")
    assert done.returncode == 0, done.out + done.err
    assert "prune: removed 3 folders" in done.out
    assert listed(ws) == [] and not any(ws.root.joinpath(p).exists() for p, _ in gone)
    assert not ws.state("mirrors", "app.git.lock").exists()
    for kept in ("T-1/lib/mr.json", "mirrors/lib.git", "mirrors/docs.git", ".doit.db"):
        assert ws.state(kept).exists(), kept
    assert "/T-2/" not in git(ws.state("mirrors", "lib.git"), "worktree", "list")  # its git folders too

    again = ws.doit("ship")
    assert again.returncode == 0, again.out + again.err
    assert again.executed == []
    assert "prune: nothing to remove" in ws.doit("prune").out


def test_only_folders_of_gone_tickets_and_repos_are_judged(workspace: Workspace) -> None:
    ws = workspace
    ws.write("repos.yaml", REPOS + "  lib: {url: ../remotes/lib.git}\n")
    ticket(ws, "T-1", "lib")
    files = {
        ".lock": "", ".doit.db": "db", "overlaps.json": "{}",
        "remotes/gone.git/HEAD": "ref", "evals/shipyard/runs-tests/result.json": "{}",
        "envs/.uv-cache/x": "", "envs/lib/k/bin/python": "", "envs/gone/k.json": "{}",
        "mirrors/lib.git.lock": "",
        "mirrors/gone.git/HEAD": "x" * 2048, "mirrors/gone.git.lock": "", "mirrors/lost.git.lock": "",
        "baselines/gone/sha/ruff.json": "{}", "trees/gone/sha/a.py": "", "trees/lib/sha/a.py": "",
        "T-1/ticket.json": "{}", "T-1/planner/prompt.md": "", "T-1/notes/x": "",
        "T-1/lib/prompt.md": "", "T-1/gone/patch.diff": "",
        "T-9/ticket.json": "{}", "T-9/lib/verify.index": "",
        "cache/x": "",  # a folder with no ticket's record: not a ticket's
    }  # fmt: skip
    for name, text in files.items():
        ws.write(f"state/{name}", text)
    git(ws.state("mirrors"), "init", "-q", "--bare", "lib.git")  # a mirror of a repo that exists
    gone = [
        ("state/T-1/gone", "repo gone is no longer in repos.yaml"),
        ("state/T-9", "ticket T-9 is no longer in tickets/"),
        ("state/mirrors/gone.git", "repo gone is no longer in repos.yaml"),
        ("state/mirrors/lost.git.lock", "repo lost is no longer in repos.yaml"),
        ("state/envs/gone", "repo gone is no longer in repos.yaml"),
        ("state/baselines/gone", "repo gone is no longer in repos.yaml"),
        ("state/trees/gone", "repo gone is no longer in repos.yaml"),
    ]
    assert listed(ws) == gone
    workspace_value = config.load(ws.root)
    mirror = next(s for s in prune.stale(workspace_value) if s.path.name == "gone.git")
    assert mirror.size == 2048 and mirror.also == (ws.state("mirrors", "gone.git.lock"),)

    prune.make(workspace_value, remove=False)
    assert all(ws.state(name).exists() for name in files)
    prune.make(workspace_value, remove=True)
    removed = {name for name in files if not ws.state(name).exists()}
    assert removed == {
        "T-1/gone/patch.diff", "T-9/ticket.json", "T-9/lib/verify.index", "mirrors/gone.git/HEAD",
        "mirrors/gone.git.lock", "mirrors/lost.git.lock", "envs/gone/k.json",
        "baselines/gone/sha/ruff.json", "trees/gone/sha/a.py",
    }  # fmt: skip
    assert listed(ws) == []


def test_sizes_read_as_people_read_them(tmp_path: Path) -> None:
    assert [prune.human(n) for n in (0, 812, 4096, 1536 * 1024, 3 * 1024**3)] == [
        "0 B", "812 B", "4.0 KiB", "1.5 MiB", "3.0 GiB",
    ]  # fmt: skip
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 100)
    (tmp_path / "a" / "link").symlink_to("/usr")  # counted as the link, never followed
    assert prune.size(tmp_path / "a") == 100 + len("/usr")
    assert prune.size(tmp_path / "missing") == 0
