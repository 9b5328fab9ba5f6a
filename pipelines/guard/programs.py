"""Text that runs as a program, read as commands too: it is where a refused command would hide.

A shell's `-c` script, its stdin (a here-document, `echo ... |`) or its script file; `eval`,
`watch`, `trap`, `alias`, `su -c`, `find -exec`, `git bisect run`; command-valued git settings
(`-c core.fsmonitor=...`, `GIT_SSH_COMMAND=...`); the strings a `python -c`, `node -e`, `perl -e`,
`awk` program (or a script file of the worktree) hands to a shell; a script this same text wrote.
What a download or a decoding printed, run as a program, is marked (`Invocation.runs`).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

from . import recipes as guard_recipes
from . import scripts as guard_scripts

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
if TYPE_CHECKING:
    from .walk import Invocation, Walker

SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "rbash", "csh", "tcsh", "pwsh"}
INTERPRETERS = {"python", "python2", "python3", "pypy", "pypy3", "node", "nodejs", "deno", "bun", "perl",
                "ruby", "php", "lua", "luajit", "Rscript", "R", "julia"}  # fmt: skip
# Per interpreter: the options that give it its program, and the other options that take a value.
PROGRAM_OPTIONS = {
    "python": ("-c", "-W -X"), "pypy": ("-c", "-W -X"), "perl": ("-e -E", "-I -M -m"),
    "ruby": ("-e", "-r -I -C"), "php": ("-r", "-c -d -z"), "lua": ("-e", "-l"), "luajit": ("-e", "-l"),
    "node": ("-e --eval -p --print", "-r --require --import -C --conditions --loader --experimental-loader"),
    "nodejs": ("-e --eval -p --print", "-r --require"), "bun": ("-e --eval -p --print", "-r --preload"),
    "julia": ("-e --eval -E --print", "-L"),
}  # fmt: skip
AWKS = {"awk", "gawk", "mawk", "nawk"}
EXECUTORS = SHELLS | INTERPRETERS | AWKS | {"eval", "source", "."}
PRODUCERS = {"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "nc", "ncat", "socat", "base64",
             "base32", "xxd", "openssl", "gpg", "uudecode"}  # fmt: skip
SCRIPTED = {"eval": "all", "watch": "all", "trap": "first", "alias": "first", "su": "-c", "script": "-c",
            "runuser": "-c", "nix-shell": "--run", "flock": "-c"}  # fmt: skip
GIT_SCRIPTS = re.compile(
    r"alias\..*|core\.(fsmonitor|sshcommand|pager|editor|askpass|gitproxy)|sequence\.editor|diff\.external|"
    r"(diff|filter|merge|difftool|mergetool|browser)\..*\.(textconv|command|clean|smudge|process|driver|cmd)|"
    r"credential\.(.*\.)?helper|gpg\.(.*\.)?program|pager\..*",
    re.I,
)
GIT_ENV_SCRIPTS = {"GIT_SSH_COMMAND", "GIT_SSH", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR",
                   "GIT_ASKPASS", "GIT_SEQUENCE_EDITOR", "GIT_PROXY_COMMAND"}  # fmt: skip
SHEBANG = re.compile(r"#!\s*\S*(/|\s)(env\s+)?(ba|z|da|k)?sh\b")


def follow(walker: Walker, name: str, argv: list[str], invocation: Invocation, depth: int) -> None:
    """Walk what `argv` runs as a program of its own, and mark what it runs from a download."""
    args, here, from_file = argv[1:], invocation.cwd, invocation.from_file
    if name in EXECUTORS:
        invocation.runs |= invocation.substituted  # sh -c "$(curl ...)", eval "$(...)", bash <(curl ...)
    if name in SHELLS:
        script, file = _shell_script(args)
        invocation.program_on_stdin = script is None and file is None
        sources = [target for op, target in invocation.redirects if op == "<"]
        if script is not None or invocation.program_on_stdin and invocation.stdin is not None:
            walker.script(
                script if script is not None else invocation.stdin or "", depth + 1, from_file, here
            )
        elif file or sources:
            _run_file(walker, invocation, file or sources[-1], depth)
    elif name in SCRIPTED:
        for text in _scripted(name, args):
            walker.script(text, depth + 1, from_file, here)
    elif name in ("source", ".") and args:
        invocation.program_on_stdin = args[0] in ("/dev/stdin", "-")
        _run_file(walker, invocation, args[0], depth)
    elif name == "find":
        for i, arg in enumerate(args):
            if arg in ("-exec", "-execdir", "-ok", "-okdir"):
                end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+")), len(args))
                walker.run(args[i + 1 : end], replace(invocation, argv=[]), depth + 1)
    elif name == "git":
        for text in _git_scripts(args):
            walker.script(text, depth + 1, from_file, here)
    elif name in AWKS or name.rstrip("0123456789.") in INTERPRETERS:
        _interpreter(walker, name, args, invocation, depth)
    elif name in guard_recipes.MAKES or name in guard_recipes.PACKAGERS:
        guard_recipes.follow(walker, name, args, invocation, depth)
    elif "/" in argv[0]:
        _run_file(walker, invocation, argv[0], depth, shebang=True)


def _scripted(name: str, args: list[str]) -> list[str]:
    """The text `eval`, `watch`, `trap`, `alias`, `su -c`... run as shell commands."""
    how = SCRIPTED[name]
    if how == "all":
        words = args
        while name == "watch" and words and words[0].startswith("-"):
            words = words[2:] if words[0] in ("-n", "--interval") else words[1:]
        return [" ".join(words)]
    if how == "first":
        return [a.partition("=")[2] or a for a in args if not a.startswith("-")][:1]
    flag = re.compile(f"{re.escape(how)}|-[a-z]+{re.escape(how[1:])}")  # su -c, su -lc
    return [v for f, v in zip(args, args[1:], strict=False) if flag.fullmatch(f)]


def _git_scripts(args: list[str]) -> list[str]:
    """The commands git runs from its own command line: `-c` settings that run a command (an alias
    runs git, or with `!` a shell), and `bisect run`."""
    texts = []
    for flag, value in zip(args, args[1:], strict=False):
        key, _, setting = value.partition("=")
        if flag == "-c" and GIT_SCRIPTS.fullmatch(key):
            alias = key.lower().startswith("alias.") and not setting.startswith("!")
            texts.append(("git " if alias else "") + setting.removeprefix("!"))
    if "bisect" in args and "run" in args[args.index("bisect") :]:
        texts.append(" ".join(args[args.index("run", args.index("bisect")) + 1 :]))
    return texts


def _interpreter(walker: Walker, name: str, args: list[str], invocation: Invocation, depth: int) -> None:
    """An interpreter's program (`-c`, `-e`, stdin, a script file): the shell commands it runs."""
    if name in AWKS:
        program = next((a for a in args if not a.startswith("-")), None) if "-f" not in args else None
        script = "-" if program is None and args[:1] in ([], ["-"]) else None
    else:
        program, script = _program(name, args)
    invocation.program_on_stdin = program is None and script == "-"
    code = program if program is not None else invocation.stdin if script == "-" else None
    invocation.code = None if code is None else guard_scripts.joined(code)
    if script not in (None, "-"):
        code = guard_scripts.read(walker, script, depth)
        invocation.runs |= walker.fetched.get(os.path.normpath(os.path.join(walker.cwd, script)), frozenset())
        invocation.sends_environment = code is not None and guard_scripts.sends_environment(code, args, False)
    for text in guard_scripts.commands(code or ""):  # a guess at what runs: judged on intent only
        walker.script(text, depth + 1, True, invocation.cwd)


def _run_file(walker: Walker, invocation: Invocation, path: str, depth: int, shebang: bool = False) -> None:
    """A shell script that runs, read as commands (the sandbox holds the paths it writes)."""
    invocation.runs |= walker.fetched.get(os.path.normpath(os.path.join(walker.cwd, path)), frozenset())
    text = guard_scripts.read(walker, path, depth)
    if text is not None and (not shebang or SHEBANG.match(text)):
        walker.script(text, depth + 1, True, invocation.cwd)


def prints(invocation: Invocation, root: str, variables: dict[str, str]) -> str | None:
    """What a command prints, when its words tell: echo, printf, which, pwd, mktemp, cat <<EOF..."""
    name, args = os.path.basename(invocation.argv[0]), invocation.argv[1:]
    words = [a for a in args if not a.startswith("-")]
    if name in ("echo", "printf"):
        return " ".join(words[1:] if name == "printf" and words and "%" in words[0] else words)
    if name in ("which", "type") or (name == "command" and args[:1] in (["-v"], ["-V"])):
        return words[-1] if words else ""
    if name in ("cat", "tee") and not words:
        return invocation.stdin
    if name == "git" and "--show-toplevel" in args:
        return root
    return {
        "pwd": invocation.cwd,
        "mktemp": os.path.join(variables.get("TMPDIR") or "/tmp", "tmp.guard"),
    }.get(name)


def downloads(ran: list[Invocation]) -> list[str]:
    """The files a download names with its own options (`curl -o FILE`, `wget -O FILE`)."""
    found = []
    for invocation in ran:
        if os.path.basename(invocation.argv[0]) in ("curl", "wget"):
            args = invocation.argv
            found += [v for f, v in zip(args, args[1:], strict=False) if f in ("-o", "--output", "-O")]
    return found


def _shell_script(args: list[str]) -> tuple[str | None, str | None]:
    """A shell's `-c` script, or the script file it runs; (None, None) when it reads stdin."""
    command, i = False, 0
    while i < len(args):
        arg = args[i]
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if arg == "-" or not arg.startswith(("-", "+")):
            return (None, None) if arg == "-" else (arg, None) if command else (None, arg)
        command |= not arg.startswith("--") and "c" in arg
        i += 1
    return None, None


def _program(name: str, args: list[str]) -> tuple[str | None, str | None]:
    """An interpreter's program from its command line (`-c`, `-e`, `-ne`, `--eval`, `deno eval`...),
    or else the script file it runs ("-": its stdin); (None, None) for a module (`python -m`) or none."""
    family = name.rstrip("0123456789.")
    programs, values = (set(o.split()) for o in PROGRAM_OPTIONS.get(family, ("-c -e", "")))
    inline = family == "deno" and args[:1] == ["eval"]  # `deno eval CODE`, `deno run FILE`
    args = args[1:] if family == "deno" and args[:1] in (["eval"], ["run"]) else args
    i = 0
    while i < len(args):
        arg, key = args[i], args[i].partition("=")[0]
        after = args[i + 1] if i + 1 < len(args) else None
        if arg == "-" or not arg.startswith("-"):
            return (arg, None) if inline else (None, arg)
        if arg == "--":
            return None, after or "-"
        if family in ("python", "pypy") and arg.startswith("-m"):
            return None, None
        letters = re.fullmatch(r"-[a-zA-Z]+", arg) is not None
        if key in programs:
            return (arg.partition("=")[2] if "=" in arg else after), None
        if key in values or (letters and len(arg) > 2 and arg[:2] in values):  # -W ignore, -Wignore
            i += 1 if key in values and "=" not in arg else 0
        elif letters and f"-{arg[-1]}" in programs:  # -ne, -Bc, -pe
            return after, None
        elif not letters and arg[:2] in programs:  # -e'print 1', attached
            return arg[2:], None
        i += 1
    return None, None if args else "-"  # `node --test` runs no program of its own; `python` reads stdin
