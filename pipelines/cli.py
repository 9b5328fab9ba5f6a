"""The `shipyard` command: `shipyard init DIR` writes a workspace of your own, anywhere, that runs
on the installed shipyard: `cd DIR && doit ship`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

STARTER = Path(__file__).parent / "starter"

# The same lines as shipyard's own dodo.py: `dodo()` gives doit the task creators and DOIT_CONFIG
# (state/.doit.db through shipyard's sqlite backend, `ship` by default), so the workspace needs no
# pyproject.toml of its own.
DODO = '''"""This workspace's task graph, from the installed shipyard: `doit ship`, `doit list`."""

from pipelines.tasks import dodo

globals().update(dodo())
'''
IGNORED = "state/"  # everything derived from the inputs: safe to delete, never committed

# What `init` writes, in order, and what each is for.
FILES = {
    "dodo.py": "hands doit shipyard's task graph and settings",
    "repos.yaml": "your repos (none yet) and their defaults, every key explained",
    "tickets/EXAMPLE.md": "an example ticket, closed: copy it to write one",
    "skills/README.md": "how to add a skill",
    ".gitignore": "state/ is derived: safe to delete, never committed",
}
MARKS = ("dodo.py", "repos.yaml")  # a folder holding either is a workspace already


def contents(name: str) -> str:
    """The text `init` writes to the workspace's file `name`."""
    if name == "dodo.py":
        return DODO
    if name == ".gitignore":
        return f"{IGNORED}\n"
    starter = {"repos.yaml": "repos.yaml", "tickets/EXAMPLE.md": "ticket.md", "skills/README.md": "skills.md"}
    return (STARTER / starter[name]).read_text()


def init(folder: Path, shown: str) -> int:
    """Write a new workspace into `folder` (made with its parents); refuse one already there."""
    if folder.exists() and not folder.is_dir():
        print(f"shipyard init: {shown} is a file; expected a folder for the workspace", file=sys.stderr)
        return 1
    if found := [m for m in MARKS if (folder / m).exists()]:
        why = f"{shown}/{found[0]} exists: a workspace is there already (nothing was written)"
        print(f"shipyard init: {why}", file=sys.stderr)
        return 1
    written = [name for name in FILES if _write(folder, name)]
    print(f"shipyard init: wrote a workspace in {shown}:")
    width = max(map(len, written))
    for name in written:
        print(f"  {name:<{width}}  {FILES[name]}")
    # `~` stays unexpanded inside quotes: say an absolute path then
    where = shlex.quote(str(folder.absolute()) if shown.startswith("~") else shown)
    print(f"next: add a repo to repos.yaml and a ticket to tickets/, then: cd {where} && doit ship")
    return 0


def _write(folder: Path, name: str) -> bool:
    """Write one file of the workspace; a file of yours already there is kept (a `.gitignore`
    gets `state/` added). Whether anything was written."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(contents(name))
        return True
    if name != ".gitignore":
        return False
    kept = path.read_text()
    if IGNORED in kept.splitlines():
        return False
    path.write_text(kept + ("" if kept.endswith("\n") or not kept else "\n") + f"{IGNORED}\n")
    return True


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description="A personal multi-repo code factory.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    init = commands.add_parser(
        "init", help="write a workspace in DIR: dodo.py, repos.yaml, tickets/, skills/, .gitignore"
    )
    init.add_argument("dir", metavar="DIR", help="the folder to make a workspace of (made if missing)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`shipyard init DIR`; without a command, the usage and exit status 2."""
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_usage(sys.stderr)
        print("shipyard: give a command: shipyard init DIR (shipyard --help says more)", file=sys.stderr)
        return 2
    return init(Path(args.dir).expanduser(), args.dir)


if __name__ == "__main__":
    raise SystemExit(main())
