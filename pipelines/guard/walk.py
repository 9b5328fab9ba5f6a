"""What a shell command would run, where and on what: the shell parser's commands expanded and unwrapped.

Variables expand as the shell would, from the agent's environment and the assignments made earlier
in the same text (an unknown one is empty, as in the shell, but stays a word: the guard sees the
hole); `cd` and `pushd` move the directory later relative paths are read against; aliases and
`set --` are followed. Wrappers are looked through (`env`, `sudo`, `xargs`, `timeout`, `command`,
`nohup`, `uv run`...); what runs text as a program is read by guard_programs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from . import programs as guard_programs
from . import scripts as guard_scripts
from .patterns import braces
from .scripts import SECRET_VAR
from .shell import Command, Sub, Var, Word, parse

ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=(.*)", re.S)
KEYWORDS = {"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac"}
# A wrapper: the options of it that take a value, and how many words it takes before its command.
WRAPPERS = {
    name: (frozenset(values.split()), skip)
    for name, values, skip in (
        ("env", "-u --unset -C --chdir", 0), ("doas", "-u -C", 0), ("nice", "-n --adjustment", 0),
        ("sudo", "-u -g -h -p -C -D -r -t -U -T --user --group --host --prompt --chdir", 0),
        ("ionice", "-c -n -t --class --classdata", 0), ("timeout", "-s -k --signal --kill-after", 1),
        ("stdbuf", "-i -o -e --input --output --error", 0), ("exec", "-a", 0), ("time", "-f -o", 0),
        ("xargs", "-a -d -E -I -L -n -P -s --arg-file --delimiter --replace --max-args", 0),
        ("parallel", "-j -S --jobs", 0), ("command", "", 0), ("builtin", "", 0), ("nohup", "", 0),
        ("setsid", "", 0), ("chronic", "", 0), ("unbuffer", "", 0), ("busybox", "", 0), ("strace", "-o", 0),
        ("unshare", "--setuid -G --setgid -R --root -w --wd --map-user --map-group", 0), ("chrt", "", 1),
        ("flock", "-w --timeout -E --conflict-exit-code", 1), ("fakeroot", "", 0), ("pkexec", "--user", 0),
        ("firejail", "", 0), ("prlimit", "", 0), ("linux32", "", 0), ("linux64", "", 0),
    )
}  # fmt: skip
RUNNERS = dict.fromkeys(("uv", "poetry", "pipenv", "pdm", "hatch", "rye", "conda", "mamba", "pixi"), "run")
RUNNERS |= dict.fromkeys(("bundle", "pnpm", "yarn", "npm"), "exec")
RUNNER_VALUES = frozenset((
    "--with", "--python", "-p", "--project", "--directory", "--package", "--extra", "--group", "-e", "--env",
    "-n", "--name", "--prefix", "--from", "--env-file",
))  # fmt: skip


@dataclass
class Invocation:
    argv: list[str]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)  # variables set for this command only
    redirects: list[tuple[str, str]] = field(default_factory=list)
    stdin: str | None = None  # the here-document, here-string or echoed text it reads
    piped: frozenset[str] = frozenset()  # the commands before it in its pipeline
    substituted: frozenset[str] = frozenset()  # the commands whose output its words hold
    globs: tuple[str, ...] = ()  # its unquoted words with glob characters
    secrets: tuple[str, ...] = ()  # secret-looking variables its words expand
    code: str | None = None  # the program an interpreter runs, from its command line or stdin
    program_on_stdin: bool = False  # a shell or interpreter reading the program it runs on stdin
    runs: frozenset[str] = frozenset()  # the commands whose output it runs as a program
    from_file: bool = False  # read from a script file of the worktree, not the agent's command
    sends_environment: bool = False  # the script file it runs sends the whole environment out


def invocations(text: str, cwd: str, env: Mapping[str, str], root: str) -> list[Invocation]:
    """Every command `text` would run, in order, as far as can be told without running it."""
    walker = Walker(dict(env), cwd, root)
    walker.script(text, depth=0, from_file=False)
    return walker.found


@dataclass
class _Seen:
    substituted: set[str] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)


class Walker:
    """Walks a text's commands in order, keeping what the shell would keep: variables, the current
    directory, aliases, what each command printed, the files written along the way."""

    def __init__(self, variables: dict[str, str], cwd: str, root: str) -> None:
        self.vars = {"IFS": " \t\n", "$": "self", "BASHPID": "self", **variables}
        self.cwd, self.root = cwd, root
        self.found: list[Invocation] = []
        self.aliases: dict[str, list[str]] = {}
        self.globs = 0  # unquoted glob words seen: a hundred at most are judged by what they match
        self.written: dict[str, str] = {}  # files this text writes, and what, as far as it tells
        self.fetched: dict[str, frozenset[str]] = {}  # files it writes from a download or a decoding
        self.scopes: list[tuple[str, dict[str, str]]] = []
        self.outputs: dict[int, tuple[frozenset[str], str | None, Command]] = {}  # names, printed, itself

    def script(self, text: str, depth: int, from_file: bool, cwd: str | None = None) -> None:
        """Walk `text`, run in `cwd` (the current directory by default), which it does not change."""
        if depth > 8:
            return
        saved, self.cwd = self.cwd, cwd or self.cwd
        for command in parse(text):
            self.command(command, depth, from_file)
        self.cwd = saved

    def command(self, command: Command, depth: int, from_file: bool) -> None:
        if command.scope > 0:
            self.scopes.append((self.cwd, dict(self.vars)))
        elif command.scope < 0 and self.scopes:
            self.cwd, self.vars = self.scopes.pop()
        if command.scope:
            return
        seen, argv, globs = _Seen(), [], []
        for word in command.words:
            expanded = self.expand(word, seen)
            argv += expanded
            if not word.quoted and self.globs < 100:
                found = [w for w in expanded if any(c in w for c in "*?[")]
                globs, self.globs = globs + found, self.globs + len(found)
        redirects = [(op, self.text(target, seen)[0]) for op, target in command.redirects]
        stdin = next((h.body for h in reversed(command.heredocs)), None)
        stdin = next((t for op, t in reversed(redirects) if op == "<<<"), stdin)
        piped, printed, _ = self.outputs.get(id(command.piped_from), (frozenset(), None, command))
        stdin = printed if stdin is None else stdin
        substituted, secrets = frozenset(seen.substituted), tuple(seen.secrets)
        base = Invocation([], self.cwd, {}, redirects, stdin, piped, substituted, tuple(globs), secrets)
        base.from_file = from_file
        start = len(self.found)
        self.run(argv, base, depth)
        ran = [i for i in self.found[start:] if i.argv]
        names = piped | {os.path.basename(i.argv[0]) for i in ran}
        if any(i.code and guard_scripts.dumps_environment(i.code) for i in ran):
            names |= {"env"}  # a program that prints the whole environment dumps it, as `env` does
        prints = guard_programs.prints(ran[-1], self.root, self.vars) if ran else None
        self.outputs[id(command)] = (names, prints, command)
        for target in [t for op, t in redirects if op in (">", ">>")] + guard_programs.downloads(ran):
            path = os.path.normpath(os.path.join(self.cwd, target))
            if prints is not None:  # a script written here and run later in the same text is read
                self.written[path] = prints
            if names & guard_programs.PRODUCERS:
                self.fetched[path] = names & guard_programs.PRODUCERS

    def expand(self, word: Word, seen: _Seen) -> list[str]:
        """The words `word` becomes, its `{a,b}` expanded; an unknown expansion stays an empty word (the
        guard sees a hole)."""
        text, expanded = self.text(word, seen)
        if word.quoted:
            return [text]
        words = (text.split() or [""]) if expanded else [text]
        return [b for w in words for b in (braces(w) if "{" in w else [w])]

    def text(self, word: Word, seen: _Seen) -> tuple[str, bool]:
        out, expanded = [], False
        for part in word.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Sub):  # its commands ran before this one: what they printed, if known
                done = [self.outputs.get(id(c), (frozenset(), None, c)) for c in part.commands]
                seen.substituted.update(*(names for names, _, _ in done))
                out.append((done[-1][1] or "") if done else "")
                expanded = True
            else:
                out.append(self._variable(part, seen))
                expanded = True
        return "".join(out), expanded

    def _variable(self, var: Var, seen: _Seen) -> str:
        if var.name.startswith("~"):
            return self.vars.get("HOME", "/") if var.name == "~" else os.path.expanduser(var.name)
        if SECRET_VAR.search(var.name):
            seen.secrets.append(var.name)
        if var.name == "PWD":
            return self.cwd
        if var.name in self.vars:
            return self.vars[var.name]
        return self.text(var.default, seen)[0] if var.default else ""

    def run(self, argv: list[str], base: Invocation, depth: int) -> None:
        env: dict[str, str] = {}
        while argv and (m := ASSIGNMENT.fullmatch(argv[0])):
            env[m.group(1)] = m.group(2)
            argv = argv[1:]
        while argv and (argv[0] in KEYWORDS or not argv[0]):
            argv = argv[1:]
        if argv and (argv[0] in self.aliases or " " in argv[0]):  # an alias (once), "$@" after `set --`
            argv = (self.aliases.pop(argv[0], None) or argv[0].split()) + argv[1:]
        for name in guard_programs.GIT_ENV_SCRIPTS & env.keys():
            self.script(env[name], depth + 1, base.from_file, base.cwd)
        if not argv:
            self.vars.update(env)
            if base.redirects or env:
                self.found.append(replace(base, env=env))
            return
        name = os.path.basename(argv[0])
        if inner := self._unwrap(name, argv, base.stdin):
            self.run(inner, replace(base, env={**base.env, **env}), depth)
            return
        invocation = replace(base, argv=argv, env={**base.env, **env})
        self.found.append(invocation)
        self._track(name, argv[1:])
        guard_programs.follow(self, name, argv, invocation, depth)

    def _unwrap(self, name: str, argv: list[str], stdin: str | None) -> list[str] | None:
        """The command a wrapper runs, or None when `argv` is not a wrapper running one."""
        if len(argv) > 1 and RUNNERS.get(name) == argv[1]:
            return _after_options(argv[2:], RUNNER_VALUES, 0) or None
        if name not in WRAPPERS or (name == "command" and argv[1:2] in (["-v"], ["-V"])):
            return None
        if name == "flock" and {"-c", "--command"} & set(argv):  # its command is a script: guard_programs
            return None
        values, skip = WRAPPERS[name]
        split = [v for f, v in zip(argv, argv[1:], strict=False) if f in ("-S", "--split-string")]
        rest = _after_options([a for a in argv[1:] if a not in ("-S", "--split-string")], values, skip)
        while rest and ASSIGNMENT.fullmatch(rest[0]):
            rest = rest[1:]
        if name == "env" and split:
            return split[0].split()
        if name == "parallel" and ":::" in rest:
            return rest[: rest.index(":::")] + rest[rest.index(":::") + 1 :][:1]
        if name == "xargs" and rest:  # its command gets more words from stdin: those echoed, or a hole
            more = (stdin or "").split() or [""]
            marker = next((v for f, v in zip(argv, argv[1:], strict=False) if f in ("-I", "--replace")), None)
            return [a.replace(marker, " ".join(more)) for a in rest] if marker else rest + more
        return rest or None

    def _track(self, name: str, args: list[str]) -> None:
        """What `cd`, `export`, `unset`, `alias`, `set --` and `for` change for the commands after them."""
        if name in ("cd", "pushd"):
            places = [a for a in args if not a.startswith("-") or a == "-"] or [self.vars.get("HOME", "/")]
            self.cwd = self.cwd if places[0] == "-" else os.path.normpath(os.path.join(self.cwd, places[0]))
        elif name in ("export", "declare", "typeset", "local", "readonly"):
            self.vars.update((m[1], m[2]) for a in args if (m := ASSIGNMENT.fullmatch(a)))
        elif name == "unset":
            for variable in args:
                self.vars.pop(variable, None)
        elif name == "alias":
            self.aliases.update((n, v.split()) for n, _, v in (a.partition("=") for a in args) if v)
        elif name == "set" and "--" in args:
            values = args[args.index("--") + 1 :]
            self.vars |= {"@": " ".join(values), "*": " ".join(values)} | {
                str(i): v for i, v in enumerate(values, 1)
            }
        elif name in ("for", "select") and args[1:2] == ["in"]:
            values = args[2:]  # the value it is judged with: one leaving the worktree, if any
            self.vars[args[0]] = ([v for v in values if v.startswith(("/", ".."))] or values or [""])[0]


def _after_options(args: list[str], values: frozenset[str], skip: int) -> list[str]:
    """`args` past a wrapper's options (and the `skip` words it takes before its command)."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        if args[i] == "--":
            i += 1
            break
        i += 2 if args[i] in values else 1
    return args[i + skip :]
