"""Bad input is refused before any work: one line naming the file, key and line; exit 3."""

from __future__ import annotations

import pytest
from conftest import Workspace

from pipelines import config
from pipelines.config import GateSpec, ReposFile
from pipelines.errors import InputError
from pipelines.yamlfile import validate

REPOS = """\
defaults:
  agent: {kind: command, run: "true"}
  gates: [ruff]
repos:
  lib:
    url: ../remotes/lib.git
    description: the library
"""
TICKET = """---
id: T-1
title: Do a thing
---
Body.
"""
SKILL = "---\nname: notes\ndescription: Notes.\n---\nText.\n"


def case(
    repos: str = REPOS, ticket: str = TICKET, skill: str = SKILL, ticket_name: str = "T-1"
) -> dict[str, str]:
    return {"repos.yaml": repos, f"tickets/{ticket_name}.md": ticket, "skills/notes/SKILL.md": skill}


CASES = {
    "bad yaml": (
        case(repos=REPOS + "  bad: [unclosed\n"),
        "repos.yaml:9: not valid YAML",
    ),
    "unknown key in a repo": (
        case(repos=REPOS + "    colour: blue\n"),
        "repos.yaml:8: repos.lib.colour: unknown key",
    ),
    "wrong type": (
        case(repos=REPOS.replace('run: "true"}', 'run: "true", timeout: soon}')),
        "repos.yaml:2: defaults.agent.timeout: input should be a valid integer",
    ),
    "missing url": (
        case(repos=REPOS.replace("    url: ../remotes/lib.git\n", "")),
        "repos.yaml:5: repos.lib.url: required key is missing",
    ),
    "sandbox not on or off": (
        case(repos=REPOS + "    sandbox: sometimes\n"),
        "repos.yaml:8: repos.lib.sandbox: expected on or off (or true/false), got 'sometimes'",
    ),
    "sandbox misspelled in the defaults": (
        case(repos=REPOS.replace("gates: [ruff]\n", "gates: [ruff]\n  sandbox: of\n")),
        "repos.yaml:4: defaults.sandbox: expected on or off (or true/false), got 'of'",
    ),
    "gate network not a boolean": (
        case(repos=REPOS.replace("gates: [ruff]", "gates: [{name: ruff, network: wide}]")),
        "repos.yaml:3: defaults.gates[0].network: expected on or off (or true/false), got 'wide'",
    ),
    "gate strict not a boolean": (
        case(repos=REPOS.replace("gates: [ruff]", "gates: [{name: ruff, strict: [all]}]")),
        "repos.yaml:3: defaults.gates[0].strict: expected on or off (or true/false), got ['all']",
    ),
    "forge delete_branch not a boolean": (
        case(repos=REPOS + "    forge: {kind: local, delete_branch: later}\n"),
        "repos.yaml:8: repos.lib.forge.delete_branch: expected on or off (or true/false), got 'later'",
    ),
    "env neither auto, none nor a mapping": (
        case(repos=REPOS + "    env: conda\n"),
        "repos.yaml:8: repos.lib.env: expected auto, none or {python, install, setup}, got 'conda'",
    ),
    "env with an unknown key": (
        case(repos=REPOS + "    env: {install: [pytest], pip: x}\n"),
        "repos.yaml:8: repos.lib.env.pip: unknown key",
    ),
    "duplicate repo": (
        case(repos=REPOS + "  lib:\n    url: ../remotes/other.git\n"),
        "repos.yaml:8: repos.lib: duplicate key (first at line 5)",
    ),
    "misspelled top-level key": (
        case(repos=REPOS.replace("repos:", "repoz:")),
        "repos.yaml:4: repoz: unknown key; did you mean 'repos'? expected one of: defaults, repos",
    ),
    "a repo that uses itself": (
        case(repos=REPOS + "    gates: [{name: pytest, uses: [lib]}]\n"),
        "repos.yaml:8: repos.lib.gates: `uses:` goes round in a cycle: lib -> lib",
    ),
    "a uses cycle": (
        case(
            repos=REPOS + "    gates: [{name: pytest, uses: [app]}]\n"
            "  app:\n    url: ../remotes/app.git\n    gates: [{name: pytest, uses: [lib]}]\n"
        ),
        "repos.yaml:8: repos.lib.gates: `uses:` goes round in a cycle: lib -> app -> lib",
    ),
    "ticket id that YAML reads as a number": (
        case(ticket=TICKET.replace("id: T-1", "id: 42"), ticket_name="42"),
        'tickets/42.md:2: id: input should be a valid string, got 42; quote it to make it text: "42"',
    ),
    "unknown gate": (
        case(repos=REPOS.replace("gates: [ruff]", "gates: [ruff, rufff]")),
        "repos.yaml:3: defaults.gates[1]: unknown gate 'rufff'; "
        "expected one of: command, prek, pytest, review, ruff, ruff-format, secrets, tach, ty",
    ),
    "unknown agent kind": (
        case(repos=REPOS.replace("kind: command", "kind: robot")),
        "repos.yaml:2: defaults.agent.kind: unknown agent 'robot'; "
        "expected one of: claude-code, codex, command",
    ),
    "unknown repo in a ticket": (
        case(ticket=TICKET.replace("title: Do a thing\n", "title: Do a thing\nrepos: [lib, billing]\n")),
        "tickets/T-1.md:4: repos[1]: unknown repo 'billing'; expected one of: lib",
    ),
    "ticket id not its file name": (
        case(ticket=TICKET.replace("id: T-1", "id: T-2")),
        "tickets/T-1.md:2: id: expected 'T-1' (the file's name), got 'T-2'",
    ),
    "ticket without title": (
        case(ticket=TICKET.replace("title: Do a thing\n", "")),
        "tickets/T-1.md:2: title: required key is missing",
    ),
    "ticket without front matter": (
        case(ticket="Just a body.\n"),
        "tickets/T-1.md:1: expected YAML front matter opening with '---' on line 1",
    ),
    "unknown skill": (
        case(repos=REPOS + "    skills: [notes, styles]\n"),
        "repos.yaml:8: repos.lib.skills[1]: unknown skill 'styles'; "
        "expected a folder skills/styles/ with a SKILL.md",
    ),
    "skill name not its folder": (
        case(skill=SKILL.replace("name: notes", "name: other")),
        "skills/notes/SKILL.md:2: name: expected 'notes' (the folder's name), got 'other'",
    ),
    "skill without description": (
        case(skill="---\nname: notes\n---\nText.\n"),
        "skills/notes/SKILL.md:2: description: required key is missing",
    ),
    "command gate without run": (
        case(repos=REPOS.replace("gates: [ruff]", "gates: [{name: unit, kind: command}]")),
        "repos.yaml:3: defaults.gates[0].run: required for a command gate",
    ),
    "ticket override of the wrong type": (
        case(
            ticket=TICKET.replace(
                "title: Do a thing\n", "title: Do a thing\nagent: {kind: command, run: [1, 2]}\n"
            )
        ),
        "tickets/T-1.md:4: agent.run: input should be a valid string",
    ),
    "no agent anywhere": (
        case(repos=REPOS.replace('  agent: {kind: command, run: "true"}\n', "")),
        "repos.yaml:1: defaults.agent: no agent is configured for repo 'lib'",
    ),
    "repos is not a mapping": (
        case(repos="- just\n- a list\n"),
        "repos.yaml:1: expected a mapping with 'defaults' and 'repos'",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_naming_file_key_and_what_was_expected(workspace: Workspace, name: str) -> None:
    files, expected = CASES[name]
    for path, text in files.items():
        workspace.write(path, text)
    with pytest.raises(InputError) as refused:
        config.load(workspace.root)
    assert str(refused.value).startswith(expected) and "\n" not in str(refused.value)
    assert not workspace.state().exists()


def test_bad_input_stops_doit_with_exit_3_one_line_and_nothing_in_state(workspace: Workspace) -> None:
    files, expected = CASES["duplicate repo"]
    for path, text in files.items():
        workspace.write(path, text)
    run = workspace.doit("ship")
    assert run.returncode == 3
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {expected}"), run.err
    assert not workspace.state().exists()


def test_good_input_passes_the_same_checks(workspace: Workspace) -> None:
    for path, text in case().items():
        workspace.write(path, text)
    run = workspace.doit("list")
    assert run.returncode == 0, run.err


def test_an_unknown_key_names_the_keys_that_are_known(workspace: Workspace) -> None:
    bad = REPOS.replace('run: "true"}', 'run: "true", colour: red}')
    for path, text in case(repos=bad).items():
        workspace.write(path, text)
    run = workspace.doit("list")
    assert run.returncode == 3
    assert run.err.strip() == (
        "ERROR: repos.yaml:2: defaults.agent.colour: unknown key; expected one of: kind, run, timeout, inputs"
    )


def test_a_gates_paths_are_gitignore_style_globs() -> None:
    gate = GateSpec(name="unit", paths=("src/**/*.py", "lib/*.py", "*.sql", "docs/", "!docs/keep.md"))
    covered = ["src/a.py", "src/x/a.py", "lib/a.py", "a.sql", "db/b.sql", "docs/a.md", "docs/x/b.md"]
    skipped = ["lib/x/a.py", "other/src/a.py", "src/a.txt", "docs/keep.md", "README.md"]
    assert [f for f in covered + skipped if gate.covers(f)] == covered
    assert GateSpec(name="unit").covers("anything/at/all.txt")


@pytest.mark.parametrize(
    ("glob", "message"),
    [
        ("src/a.py\\", "paths[1]: expected a gitignore-style glob (Invalid git pattern"),
        ("[unclosed", "paths[1]: expected a gitignore-style glob; this one matches no path"),
    ],
)
def test_a_glob_gitignore_cannot_read_is_one_line(glob: str, message: str) -> None:
    gate = {"name": "unit", "paths": ["src/**", glob]}
    with pytest.raises(InputError) as err:
        validate(GateSpec, gate, "repos.yaml", {}, ("defaults", "gates", 0))
    assert str(err.value).startswith(f"repos.yaml: defaults.gates[0].{message}"), err.value


def test_a_list_of_globs_cannot_start_by_taking_back() -> None:
    data = {"repos": {"lib": {"url": "x", "protect": ["!ruff.toml"]}}}
    with pytest.raises(InputError) as err:
        validate(ReposFile, data, "repos.yaml", {})
    assert str(err.value).startswith("repos.yaml: repos.lib.protect: a `!` glob takes back"), err.value
