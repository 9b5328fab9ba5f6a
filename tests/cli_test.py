"""`shipyard init DIR`: a workspace of one's own, outside shipyard's checkout, that ships with the
installed shipyard."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Run, make_remote

from pipelines import cli, config, plugins
from pipelines.config import Defaults, ReposFile, RepoSpec
from pipelines.tickets import TicketFront

LIB = {
    "lib/__init__.py": "def old_api(x):\n    return x + 1\n",
    "tests/test_lib.py": "from lib import old_api\n\n\ndef test_old_api():\n    assert old_api(1) == 2\n",
}


def doit(root: Path, *args: str) -> Run:
    """doit in the new workspace, by the venv's Python: no PYTHONPATH, the installed shipyard."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-m", "doit", *args], cwd=root, capture_output=True, text=True, env=env, timeout=300
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def test_init_writes_a_workspace_that_lists_and_ships(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "home" / "factory"  # its parents are made too
    assert cli.main(["init", str(root)]) == 0
    said = capsys.readouterr().out
    for name in ("dodo.py", "repos.yaml", "tickets/EXAMPLE.md", "skills/README.md", ".gitignore"):
        assert (root / name).is_file() and name in said
    assert f"cd {root} && doit ship" in said
    assert (root / ".gitignore").read_text() == "state/\n"
    assert config.load(root).repos == {}  # valid as written, and the example ticket is not shipped
    listed = doit(root, "list")
    assert listed.returncode == 0, listed.out + listed.err
    assert "ship " in listed.out and "prune " in listed.out
    empty = doit(root, "ship")
    assert empty.returncode == 0, empty.out + empty.err
    assert not list((root / "state").glob("EXAMPLE*"))  # state/.doit.db: the workspace's own
    assert (root / "state" / ".doit.db").is_file()


def test_a_repo_and_a_ticket_written_as_the_comments_say_ship(tmp_path: Path) -> None:
    root = tmp_path / "factory"
    assert cli.main(["init", str(root)]) == 0
    remote = make_remote(tmp_path / "remotes" / "lib.git", LIB)
    text = (root / "repos.yaml").read_text()
    entry = f"repos:\n  lib:\n    url: {remote}\n    description: the library\n    gates: [ruff]\n"
    (root / "repos.yaml").write_text(text.replace("repos: {}\n", entry))
    example = (root / "tickets" / "EXAMPLE.md").read_text()
    ticket = example.replace("id: EXAMPLE", "id: T-1").replace("status: closed", "status: open")
    ticket = ticket.replace("# agent: {kind: command", "agent: {kind: command")  # its commented codemod
    (root / "tickets" / "T-1.md").write_text(ticket)
    run = doit(root, "ship")
    assert run.returncode == 0, run.out + run.err
    mr = json.loads((root / "state" / "T-1" / "lib" / "mr.json").read_text())
    assert mr["state"] == "open" and mr["branch"].startswith("shipyard/T-1-rename-old-api")
    assert "new_api" in (root / "state" / "T-1" / "lib" / "patch.diff").read_text()
    assert not (root / "state" / "EXAMPLE").exists()
    assert doit(root, "ship").executed == []


def test_the_commented_keys_are_the_keys_shipyard_reads(tmp_path: Path) -> None:
    assert cli.main(["init", str(tmp_path / "ws")]) == 0
    text = (tmp_path / "ws" / "repos.yaml").read_text()
    for key in (*Defaults.model_fields, *RepoSpec.model_fields):
        assert f"{key}:" in text, f"repos.yaml does not explain {key}"
    # the example entry, uncommented, is a valid repo
    lines = text.split("repos: {}\n", 1)[1].splitlines()
    block = "\n".join(line.removeprefix("#") for line in lines if line.startswith("#  "))
    ReposFile.model_validate({"repos": yaml.safe_load(block)})
    # and every agent and forge a comment offers is valid as its backend's settings
    offered = re.findall(r"^  #   (?:agent: )?(\{kind: .*?\})", text, re.MULTILINE)
    assert len(offered) == 4
    for value in map(yaml.safe_load, offered):
        family = "forges" if value["kind"] in ("github", "gitlab") else "agents"
        plugins.load(family, value["kind"]).Settings.model_validate(value)
    ticket = (tmp_path / "ws" / "tickets" / "EXAMPLE.md").read_text().split("---\n")[1]
    keys = [line.removeprefix("# ") for line in ticket.splitlines() if re.match(r"(# )?[a-z_]+: ", line)]
    front = yaml.safe_load("\n".join(keys))
    assert {"repos", "skills", "agent", "allow_config", "link"} <= front.keys()
    TicketFront.model_validate(front)


def test_a_folder_holding_a_workspace_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "ws"
    assert cli.main(["init", str(root)]) == 0
    (root / "repos.yaml").write_text("repos: {mine: {url: x}}\n")
    capsys.readouterr()
    assert cli.main(["init", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{root}/dodo.py exists" in err
    assert (root / "repos.yaml").read_text() == "repos: {mine: {url: x}}\n"  # nothing was written
    (root / "dodo.py").unlink()
    assert cli.main(["init", str(root)]) == 1  # a repos.yaml alone is a workspace too
    assert f"{root}/repos.yaml exists" in capsys.readouterr().err


def test_a_folder_of_ones_own_keeps_its_files_and_ignores_state(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    (root / "tickets").mkdir(parents=True)
    (root / ".gitignore").write_text("*.pyc")
    (root / "tickets" / "EXAMPLE.md").write_text("mine\n")
    assert cli.main(["init", str(root)]) == 0
    assert (root / ".gitignore").read_text() == "*.pyc\nstate/\n"
    assert (root / "tickets" / "EXAMPLE.md").read_text() == "mine\n"
    assert cli.main(["init", str(tmp_path / "mine" / ".gitignore")]) == 1  # a file is no folder


def test_no_command_is_the_usage_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert cli.main([]) == 2
    assert "usage: shipyard" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0 and "init" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        cli.main(["init"])  # DIR is required
    assert exited.value.code == 2
