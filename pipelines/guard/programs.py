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

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
if TYPE_CHECKING:
    from .walk import Invocation, Walker

SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "rbash"}
INTERPRETERS = {
    "python",
    "python2",
    "python3",
    "pypy3",
    "node",
    "nodejs",
    "deno",
    "bun",
    "perl",
    "ruby",
    "php",
}
AWKS = {"awk", "gawk", "mawk", "nawk"}
EXECUTORS = SHELLS | INTERPRETERS | AWKS | {"eval", "source", "."}
PRODUCERS = {"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "nc", "ncat", "socat", "base64",
             "base32", "xxd", "openssl", "gpg", "uudecode"}  # fmt: skip
SCRIPTED = {"eval": "all", "watch": "all", "trap": "first", "alias": "first", "su": "-c", "script": "-c",
            "runuser": "-c", "nix-shell": "--run"}  # fmt: skip
GIT_SCRIPTS = re.compile(
    r"alias\..*|core\.(fsmonitor|sshcommand|pager|editor|askpass|gitproxy)|sequence\.editor|diff\.external|"
    r"(diff|filter|merge|difftool|mergetool|browser)\..*\.(textconv|command|clean|smudge|process|driver|cmd)|"
    r"credential\.(.*\.)?helper|gpg\.(.*\.)?program|pager\..*",
    re.I,
)
GIT_ENV_SCRIPTS = {"GIT_SSH_COMMAND", "GIT_SSH", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR",
                   "GIT_ASKPASS", "GIT_SEQUENCE_EDITOR", "GIT_PROXY_COMMAND"}  # fmt: skip
SHELL_OUT = re.compile(r"system|subprocess|popen|spawn|\bexec|check_output|check_call|child_process|`|%x|"
                       r"Open3|shell_exec|passthru|proc_open|Runtime", re.I)  # fmt: skip
LITERAL = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"|`([^`]*)`")
SHEBANG = re.compile(r"#!\s*\S*(/|\s)(env\s+)?(ba|z|da|k)?sh\b")
MAX_SCRIPT = 64 * 1024


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
        how = SCRIPTED[name]
        texts = [
            v
            for f, v in zip(args, args[1:], strict=False)
            if f == how or re.fullmatch(f"-[a-z]+{how[1:]}", f)
        ]
        if how == "all":
            words = args
            while name == "watch" and words and words[0].startswith("-"):
                words = words[2:] if words[0] in ("-n", "--interval") else words[1:]
            texts = [" ".join(words)]
        elif how == "first":
            texts = [a.partition("=")[2] or a for a in args if not a.startswith("-")][:1]
        for text in texts:
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
        for flag, value in zip(args, args[1:], strict=False):
            key, _, setting = value.partition("=")
            if flag == "-c" and GIT_SCRIPTS.fullmatch(key):
                alias = key.lower().startswith("alias.") and not setting.startswith("!")
                walker.script(
                    ("git " if alias else "") + setting.removeprefix("!"), depth + 1, from_file, here
                )
        if "bisect" in args and "run" in args[args.index("bisect") :]:
            walker.script(
                " ".join(args[args.index("run", args.index("bisect")) + 1 :]), depth + 1, from_file, here
            )
    elif name in AWKS or name.rstrip("0123456789.") in INTERPRETERS:
        _interpreter(walker, name, args, invocation, depth)
    elif "/" in argv[0]:
        _run_file(walker, invocation, argv[0], depth, shebang=True)


def _interpreter(walker: Walker, name: str, args: list[str], invocation: Invocation, depth: int) -> None:
    """An interpreter's program (`-c`, `-e`, stdin, a script file): the shell commands it runs."""
    if name in AWKS:
        program = next((a for a in args if not a.startswith("-")), None) if "-f" not in args else None
    else:
        program = _program(args)
    reads_stdin = program is None and args[:1] in ([], ["-"])
    invocation.program_on_stdin = reads_stdin
    invocation.code = program if program is not None else invocation.stdin if reads_stdin else None
    script = args[0] if program is None and args[:1] and not args[0].startswith("-") else None
    code = invocation.code if script is None else read(walker, script, depth)
    if script is not None:
        invocation.runs |= walker.fetched.get(os.path.normpath(os.path.join(walker.cwd, script)), frozenset())
    if code and SHELL_OUT.search(code[:MAX_SCRIPT]):  # each string, and the strings from each one on
        strings = [a or b or c for a, b, c in LITERAL.findall(code[:MAX_SCRIPT])]
        texts = strings + [" ".join(strings[i : i + 8]) for i, s in enumerate(strings) if s.isidentifier()]
        for text in texts:  # a guess at what runs: judged on intent only, like a script file
            walker.script(text, depth + 1, True, invocation.cwd)


def _run_file(walker: Walker, invocation: Invocation, path: str, depth: int, shebang: bool = False) -> None:
    """A shell script that runs, read as commands (the sandbox holds the paths it writes)."""
    invocation.runs |= walker.fetched.get(os.path.normpath(os.path.join(walker.cwd, path)), frozenset())
    text = read(walker, path, depth)
    if text is not None and (not shebang or SHEBANG.match(text)):
        walker.script(text, depth + 1, True, invocation.cwd)


def read(walker: Walker, path: str, depth: int) -> str | None:
    """A script of the worktree (or one this text wrote), small enough to read; else None."""
    full = os.path.normpath(os.path.join(walker.cwd, path))
    if full in walker.written:
        return walker.written[full]
    full = os.path.realpath(full)
    if not full.startswith(walker.root.rstrip("/") + "/") or not os.path.isfile(full) or depth > 3:
        return None
    if os.path.getsize(full) > MAX_SCRIPT:
        return None
    with open(full, errors="replace") as f:
        return f.read()


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


def _program(args: list[str]) -> str | None:
    """The program an interpreter is given on its command line (`-c`, `-e`, `-ne`, `--eval`...)."""
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "-m" or not flag.startswith("-"):
            return None
        if flag in ("-c", "-e", "-E", "-p", "-r", "--eval", "--print") or (
            re.fullmatch(r"-[a-zA-Z]+[ce]", flag) and not flag.startswith(("-W", "-X"))
        ):
            return value
    return None
