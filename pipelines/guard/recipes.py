"""What `make` and a package's scripts run: recipes the repo holds (or this same text wrote), as commands.

`make [TARGET...]` runs the recipe lines of its targets (the first one by default) and of those they
depend on, from `-f FILE` or the Makefile of its folder (`-C DIR`), its simple variables expanded;
`npm run NAME`, `npm test`, `yarn NAME`, `pnpm NAME`, `bun run NAME` run package.json's `scripts`
entry with its `pre` and `post` ones, and `npm install` (`ci`, `yarn`, `pnpm install`...) its install
scripts. Each is judged like a script of the worktree: on intent only (`make release` with a recipe
that pushes is refused; `make test` beside it is not).
"""

from __future__ import annotations

import json
import os
import re

from .scripts import read

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
if TYPE_CHECKING:
    from .walk import Invocation, Walker

MAKES = {"make", "gmake", "bmake"}
PACKAGERS = {"npm", "pnpm", "yarn", "bun"}
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
MAKE_VALUES = {"-f", "--file", "--makefile", "-C", "--directory", "-j", "--jobs", "-l", "-o", "-W", "-I"}
RULE = re.compile(r"([^\s:=#][^:=#]*?)\s*::?(?!=)([^=;#]*)(?:;(.*))?")  # targets: prerequisites ; recipe
VARIABLE = re.compile(r"([A-Za-z_][\w.]*)\s*(?::{1,3}|\?|\+|!)?=\s*(.*)")
REFERENCE = re.compile(r"\$[({]([A-Za-z_][\w.]*)[)}]")
RUN = {"run", "run-script", "rum", "urn"}
LIFECYCLE = {
    "test": "test",
    "t": "test",
    "tst": "test",
    "start": "start",
    "stop": "stop",
    "restart": "restart",
}
INSTALL = {"install", "i", "ci", "add", "isntall"}


def follow(walker: Walker, name: str, args: list[str], invocation: Invocation, depth: int) -> None:
    """Walk the recipes `make` or a package manager would run for `args`."""
    if name in MAKES:
        if not {"-n", "--dry-run", "--just-print", "--recon", "-q", "--question", "-p"} & set(args):
            _make(walker, args, invocation.cwd, depth)  # `make -n release` only prints its recipe
        return
    words = [a for a in args if not a.startswith("-")]
    scripts = _scripts(walker, invocation.cwd, depth)
    first = words[0] if words else ("install" if name in ("yarn", "pnpm") else "")
    if first in RUN:
        names = words[1:2]
    elif first in INSTALL:
        names = ["install", "prepare"]  # and their pre- and post- scripts
    elif first in LIFECYCLE and name != "bun":  # `bun test` is bun's own test runner
        names = [LIFECYCLE[first]]
    else:
        names = [first] if name in ("yarn", "pnpm") else []  # `yarn build` runs the script `build`
    for script in names:
        for entry in (f"pre{script}", script, f"post{script}"):
            if isinstance(text := scripts.get(entry), str):
                walker.script(text, depth + 1, True, invocation.cwd)


def _scripts(walker: Walker, cwd: str, depth: int) -> dict[str, object]:
    text = read(walker, os.path.join(cwd, "package.json"), depth)
    try:
        scripts = json.loads(text or "{}").get("scripts")
    except (ValueError, AttributeError):
        return {}
    return scripts if isinstance(scripts, dict) else {}


def _make(walker: Walker, args: list[str], cwd: str, depth: int) -> None:
    files, targets, folder, i = [], [], cwd, 0
    while i < len(args):
        arg, after = args[i], args[i + 1] if i + 1 < len(args) else ""
        option = arg if arg in MAKE_VALUES else arg[:2] if arg[:2] in ("-f", "-C") else ""
        value = after if arg in MAKE_VALUES else arg[2:] if option else ""
        if option in ("-f", "--file", "--makefile"):
            files.append(value)
        elif option in ("-C", "--directory"):
            folder = os.path.join(folder, value)
        elif not arg.startswith("-") and "=" not in arg:
            targets.append(arg)
        i += 2 if arg in MAKE_VALUES else 1
    paths = [os.path.join(folder, f) for f in files or MAKEFILES]
    text = next((t for p in paths if (t := read(walker, p, depth)) is not None), None)
    rules = _rules(text or "")
    todo = targets or [t for t in rules if not t.startswith(".") and "%" not in t][:1]
    seen: set[str] = set()
    while todo and len(seen) < 100:
        target = todo.pop()
        if target in seen or target not in rules:
            continue
        seen.add(target)
        prerequisites, lines = rules[target]
        todo += prerequisites
        for line in lines:
            walker.script(line.lstrip("@-+ \t").replace("$$", "$"), depth + 1, True, folder)


def _rules(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """A Makefile's rules: each target's prerequisites and recipe lines, its variables expanded."""
    rules: dict[str, tuple[list[str], list[str]]] = {}
    variables: dict[str, str] = {"MAKE": "make"}
    current: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("\t"):
            recipe = REFERENCE.sub(lambda m: variables.get(m.group(1), ""), line[1:])
            for target in current:
                rules[target][1].append(recipe)
        elif (m := RULE.fullmatch(line.rstrip())) and not VARIABLE.fullmatch(line.strip()):
            current = REFERENCE.sub(lambda m: variables.get(m.group(1), ""), m.group(1)).split()
            for target in current:
                rules.setdefault(target, ([], []))[0].extend(m.group(2).split())
                rules[target][1].extend([m.group(3)] if m.group(3) else [])
        elif m := VARIABLE.fullmatch(line.strip()):
            variables[m.group(1)] = REFERENCE.sub(lambda r: variables.get(r.group(1), ""), m.group(2))
            current = []
        elif line.strip() and not line.lstrip().startswith("#"):
            current = []
    return rules
