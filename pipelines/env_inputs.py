"""What an env build's networked phase reads: copies of the repo's dependency files, no code.

The fetch phase runs uv with the index's credentials and network, so it must run nothing the repo
controls. uv would: an editable requirement is built even under `--no-build`; `--no-binary` in a
requirements file (or `no-binary-package` in `[tool.uv]`) builds a source distribution; a
`${VARIABLE}` in a requirements file or `pyproject.toml` is expanded, credentials included, into
a URL anyone can name. So uv runs with `--no-config` in a folder holding only copies shipyard
made of the files it needs, each checked: local projects (`-e .[test]`, `./libs/x`) are taken
out and handed to the offline phase, options outside `OPTIONS` and variables are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.env_metadata import Local, inside, read_inside
from pipelines.errors import StepError

PROJECT_FILES = ("uv.lock", "pyproject.toml", "setup.py", "setup.cfg")
REQUIREMENTS = re.compile(r"^([^/]*requirements[^/]*\.txt|requirements/[^/]+\.txt)$")
WANTED = re.compile(r"^(tests?|testing|dev|develop|development)$")  # extras and groups a test run needs
INCLUDES = ("-r", "--requirement", "-c", "--constraint")
EDITABLE = ("-e", "--editable")
FLAGS = ("--no-index", "--pre", "--prefer-binary", "--upgrade", "-U", "--no-deps")
VALUED = ("-i", "--index-url", "--extra-index-url", "--default-index", "--index", "-f", "--find-links")
VALUED += ("--prerelease", "--resolution", "--index-strategy", "--trusted-host", "--exclude-newer")
OPTIONS = (*INCLUDES, *EDITABLE, *FLAGS, *VALUED)  # none of them makes uv build anything
OPTION = re.compile(r"^(--[A-Za-z][\w-]*|-[A-Za-z])(?:\s*=\s*|\s*)(.*)$")
LOCAL = re.compile(r"^(\.|/|~|file:)")
PATH_EXTRAS = re.compile(r"^(?:file:(?://)?)?(.+?)(?:\[([^\]]*)\])?$")
HASH = re.compile(r"\s--hash[=\s]")


@dataclass
class Inputs:
    tree: Path  # the base's files, read here before any code runs in them
    fetch: Path  # what the fetch phase sees: the copies
    install: bool  # the local projects found are installed (an explicit env), not only their needs
    locals: dict[str, Local] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)  # the requirements files copied

    def copy(self, relative: str) -> None:
        """A dependency file (pyproject.toml, uv.lock) as it is, once checked."""
        text = read_inside(self.tree, relative)
        if text is None:
            raise StepError(f"{relative} is not a file of the repo")
        self._write(relative, _no_variables(text, relative))

    def copy_projects(self) -> None:
        """Every pyproject.toml of the tree: the members a uv.lock's workspace names."""
        for folder, dirs, files in os.walk(self.tree):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if "pyproject.toml" in files:
                self.copy(os.path.relpath(os.path.join(folder, "pyproject.toml"), self.tree))

    def requirements(self, relative: str) -> None:
        """A requirements file, without its local projects, and the files it includes."""
        if relative in self.read:
            return
        self.read.add(relative)
        text = read_inside(self.tree, relative)
        if text is None:
            raise StepError(f"{relative} is not a requirements file of the repo")
        kept = []
        for line in _lines(text):
            where = f"{relative}: {line[:80]!r}"
            _no_variables(line, where)
            option, value = _option(line)
            if option in INCLUDES:  # relative to the file that includes it, as uv reads them
                self.requirements(_relative(os.path.join(os.path.dirname(relative), value), where))
            elif option in EDITABLE:
                self.local(value, where, editable=True)
                continue
            elif option:
                _allowed(option, where)
            elif LOCAL.match(line):
                self.local(line, where, editable=False)
                continue
            elif re.search(r"\s-", HASH.sub(" ", line)):
                raise StepError(f"{where}: only --hash may follow a requirement in an env build")
            kept.append(line)
        self._write(relative, "\n".join(kept) + "\n")

    def arguments(self, args: list[str]) -> list[str]:
        """An explicit env's `install` arguments for the fetch phase: local projects taken out."""
        out: list[str] = []
        words = iter(args)
        for word in words:
            option, value = _option(word) if word.startswith("-") else ("", word)
            if option in (*INCLUDES, *EDITABLE, *VALUED) and not value:
                value = next(words, "")
            if option in INCLUDES:
                self.requirements(_relative(value, word))
                out += [option, value]
            elif option in EDITABLE:
                self.local(value, f"install: {word} {value}", editable=True)
            elif option:
                _allowed(option, f"install: {word}")
                out += [option, value] if value else [option]
            elif LOCAL.match(word):
                self.local(word, f"install: {word}", editable=False)
            else:
                out.append(word)
        return out

    def local(self, spec: str, where: str, editable: bool) -> None:
        """A project in the tree named by `path[extras]` (relative to the root, as uv reads them)."""
        match = PATH_EXTRAS.match(spec.strip())
        path = _relative(match.group(1) if match else spec, where)
        if inside(self.tree, path) is None:
            raise StepError(f"{where}: {path} is not a folder of the repo (an env installs no other)")
        extras = match.group(2) if match else None
        self.add(Local(path, {e.strip() for e in (extras or "").split(",") if e.strip()}, editable=editable))

    def add(self, local: Local) -> None:
        """`local`, built offline: installed too in an explicit env, else only its requirements."""
        local.install = self.install
        if local.path in self.locals:
            self.locals[local.path].merge(local)
        else:
            self.locals[local.path] = local

    def _write(self, relative: str, text: str) -> None:
        target = self.fetch / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _lines(text: str) -> list[str]:
    """A requirements file's logical lines: continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\\\r?\n", " ", text)
    lines = (re.sub(r"(^|\s)#.*", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def _option(word: str) -> tuple[str, str]:
    match = OPTION.match(word) if word.startswith("-") else None
    return (match.group(1), match.group(2).strip()) if match else ("", word)


def _allowed(option: str, where: str) -> None:
    if option not in OPTIONS:
        raise StepError(f"{where}: {option} is not allowed in an env build (it never builds with network)")


def _relative(path: str, where: str) -> str:
    """`path` inside the tree, relative to its root; never absolute, a URL or out through `..`."""
    normal = os.path.normpath(path)
    if "://" in path or os.path.isabs(path) or path.startswith("~") or normal.split(os.sep)[0] == "..":
        raise StepError(f"{where}: {path} is outside the repo's tree (an env build reads only the repo)")
    return normal


def _no_variables(text: str, where: str) -> str:
    if "${" in text:
        raise StepError(
            f"{where} names a ${{VARIABLE}}: an env build expands none (its fetch holds credentials)"
        )
    return text
