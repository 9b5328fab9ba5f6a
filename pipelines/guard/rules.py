"""The guard's rules for shell commands: what each command the walk found would do, judged.

Refused: pushing or committing in any spelling, skipping hooks, changing git's config, refs,
remotes or worktrees (git_rules), publishing, talking to a forge or another host, the machine's
services, running what a download or a decoding printed, naming the model's key or saving or
sending the environment that holds it, reading credentials, writing outside the worktree or to
its protected paths. Arguments are data: `grep -r "git push" .` and `git log --format='%h commit
%s'` are allowed, and so is reading the environment (`env | grep PATH`).
"""

from __future__ import annotations

import glob
import os
import re
from itertools import islice

from . import git_rules as guard_git
from .policy import DEVICES, Policy, Refusal
from .programs import INTERPRETERS, PRODUCERS, SHELLS
from .walk import SECRET_VAR, Invocation

FORGES = {"gh", "hub", "glab", "lab", "tea"}
PUBLISH = {
    ("npm", "publish"), ("yarn", "publish"), ("pnpm", "publish"), ("twine", "upload"), ("uv", "publish"),
    ("poetry", "publish"), ("flit", "publish"), ("hatch", "publish"), ("cargo", "publish"), ("gem", "push"),
    ("docker", "push"), ("podman", "push"), ("helm", "push"), ("mvn", "deploy"), ("gradle", "publish"),
}  # fmt: skip
REMOTE_SHELLS = {"ssh", "scp", "sftp", "rsh", "telnet", "mosh"}
SYSTEM = {
    "crontab", "at", "batch", "systemctl", "service", "launchctl", "mount", "umount", "nsenter", "chroot",
    "insmod", "rmmod", "modprobe", "sysctl", "iptables", "ip6tables", "nft", "reboot", "shutdown", "halt",
    "poweroff", "useradd", "usermod", "userdel", "passwd", "chpasswd", "visudo", "setcap", "swapon",
}  # fmt: skip
DUMPERS = {"env", "printenv", "export", "declare", "typeset", "set"}
SENDERS = {"curl", "wget", "nc", "ncat", "socat", "http", "https", "xh", "tee", "telnet"}
TEXT = {
    "echo", "printf", "true", "false", ":", "test", "[", "[[", "expr", "let", "basename", "dirname", "which",
    "type", "hash", "command", "help", "man", "read", "exit", "return", "for", "case",
}  # fmt: skip
SEARCHERS = {"grep", "egrep", "fgrep", "rg", "ag", "ack", "sed", "awk", "gawk", "mawk", "jq", "yq", "perl"}
NOT_FILES = {
    "-e", "--regexp", "--expression", "--include", "--exclude", "--exclude-dir", "-g", "--glob", "-name",
    "-iname", "-path", "-ipath", "-regex", "-iregex", "-wholename", "-lname", "--grep", "-m", "--message",
    "--format", "--pretty",
}  # fmt: skip
REMOVERS = {"mv", "rm", "rmdir", "unlink", "shred", "touch", "mkdir", "tee", "truncate", "mkfifo", "gzip",
            "gunzip", "bzip2", "bunzip2", "xz", "unxz"}  # fmt: skip
ONLY_WRITTEN = {"cp", "install", "rsync", "tee", "touch", "mkdir", "rm", "rmdir", "truncate", "ln", "chmod"}
VALUE_OPTIONS = {  # the options that take a value, per command
    "cp": "-t -S", "mv": "-t -S", "install": "-t -m -o -g -S", "ln": "-t -S", "mkdir": "-m",
    "touch": "-d -t -r", "truncate": "-s -r", "sed": "-e -f -l --expression --file", "perl": "-e -E -I -M",
    "ruby": "-e -I -r", "curl": "-o -d -H -X -u -A -e -F -T -D -c -b -w -P --output --output-dir",
    "wget": "-O -P -o -a -e", "tar": "-C -f -T -X --file --directory", "unzip": "-d -x",
    "patch": "-o -d -i -p", "sort": "-o -k -t -S", "pip": "-t -d -r -c -i -e --target --prefix --root --dest",
    "gzip": "-S", "rsync": "-e -f --exclude --include", "python": "-m -c -W -X", "awk": "-i -v -f -F",
    "gawk": "-i -v -f -F",
}  # fmt: skip
OUTPUTS = {  # the options that name what a command writes
    "curl": "-o --output --output-dir", "wget": "-O --output-document -P --directory-prefix -o -a",
    "unzip": "-d", "patch": "-o --output", "sort": "-o --output",
    "pip": "-t --target --prefix --root -d --dest",
}  # fmt: skip
CODE_WRITES = re.compile(
    r"open\([^)]{0,200}['\"][wax]|write_(text|bytes)|writeFile|appendFile|shutil\.|rmtree|\.touch\(|copyfile|"
    r"os\.(remove|unlink|rename|replace|symlink|link|mkdir|makedirs|rmdir|chmod)|File\.(write|open|delete)|"
    r"open\s*\(?\s*\w*\s*,\s*['\"][>+]|fs\.\w+Sync|file_put_contents|unlink\s*\(|>>?\s*['\"]"
)
CODE_PATH = re.compile(r"['\"][<>+ ]*((?:~|\$HOME|\.\.)?/[^'\"\s]*|\.\.)['\"]")
APPLY_PATCH = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+?)\s*$", re.M)
DUMP = "do not save or send the environment: it holds the model's key (reading it is fine)"


def check(policy: Policy, invocation: Invocation) -> Refusal | None:
    """The refusal of one command, or None. What runs from a script file (or from the strings of a
    program) is judged on intent only: the sandbox holds the paths it reads and writes."""
    name = os.path.basename(invocation.argv[0]) if invocation.argv else ""
    if (refusal := _intent(policy, name, invocation)) or invocation.from_file:
        return refusal
    return (
        _environment(name, invocation)
        or _reads(policy, name, invocation)
        or _writes(policy, name, invocation)
    )


def _intent(policy: Policy, name: str, invocation: Invocation) -> Refusal | None:
    """Publishing, history, git's config, forges, other hosts, the machine, downloaded code."""
    args = invocation.argv[1:]
    if "--no-verify" in args and name not in TEXT | SEARCHERS:
        return Refusal("no-verify", "do not skip hooks with --no-verify")
    exported = [a.partition("=")[0] for a in args if "=" in a] if name in ("export", "declare") else []
    if any(v.startswith(("GIT_CONFIG", "GIT_EXEC_PATH")) for v in [*invocation.env, *exported]):
        return Refusal(*guard_git.CONFIG)
    if name == "git":
        return guard_git.check_git(policy, invocation)
    if name.startswith("git-") and name[4:] in guard_git.RULES:  # /usr/lib/git-core/git-push
        return Refusal(*guard_git.RULES[name[4:]])
    if (name, next((a for a in args if not a.startswith("-")), "")) in PUBLISH:
        return Refusal("publish", f"do not publish with {name}: shipyard ships the change as a merge request")
    if name in FORGES:
        return Refusal("forge", f"do not use {name}: shipyard opens the merge request itself")
    if name in REMOTE_SHELLS:
        return Refusal("remote-shell", f"do not use {name}: the change is made here, with no keys of yours")
    if name in SYSTEM:
        return Refusal("system", f"do not use {name}: the machine's services and mounts are not the change's")
    fed = invocation.runs | (invocation.piped if invocation.program_on_stdin else frozenset())
    if source := min(fed & PRODUCERS, default=None):
        return Refusal(
            "pipe-to-shell", f"do not run what {source} printed (a download or a decoding) in {name}"
        )
    if name in ("apply_patch", "applypatch") and not APPLY_PATCH.search(invocation.stdin or " ".join(args)):
        return Refusal("unreadable", "the guard found no `*** Add/Update/Delete File:` header in this patch")
    return None


def _environment(name: str, invocation: Invocation) -> Refusal | None:
    """The model's key: not named, saved or sent; and no interactive shell to hide commands in."""
    args = invocation.argv[1:]
    secrets = [*invocation.secrets, *(a for a in args if name == "printenv" and SECRET_VAR.search(a))]
    if secrets:
        return Refusal("credentials", f"{secrets[0]} is a secret; the change must not need it")
    listing = args in ([], ["-p"], ["-x"], ["-px"]) if name in DUMPERS else False
    dump = listing or (name in ("env", "printenv") and all(a.startswith("-") for a in args))
    saved = any(
        op in (">", ">>", ">|", "&>", "&>>") and not DEVICES.fullmatch(t) for op, t in invocation.redirects
    )
    if (dump and saved) or (name in SENDERS and (invocation.piped | invocation.substituted) & DUMPERS):
        return Refusal("environment", DUMP)
    quiet = invocation.stdin is None and not invocation.piped and not invocation.redirects
    if name in SHELLS | INTERPRETERS and invocation.program_on_stdin and quiet:
        return Refusal("interactive", f"run commands directly, not in an interactive {name}")
    return None


def _reads(policy: Policy, name: str, invocation: Invocation) -> Refusal | None:
    """Credentials among the files a command names (a search pattern or a message is not a file)."""
    cwd, argv = invocation.cwd, invocation.argv
    words = [t for op, t in invocation.redirects if op in ("<", "<>")] + CODE_PATH.findall(
        invocation.code or ""
    )
    written = set(targets(name, invocation)) if name in ONLY_WRITTEN else set()
    words += [w for w in _files(name, argv[1:], cwd) if w not in written] if name not in TEXT else []
    if name == "find" and {"-exec", "-execdir", "-ok", "-okdir"} & set(argv):  # find ~ -name id_rsa -exec
        words += [v for f, v in zip(argv, argv[1:], strict=False) if f in ("-name", "-iname", "-path")]
    for pattern in invocation.globs[:20]:
        words += islice(glob.iglob(pattern, root_dir=cwd, include_hidden=True), 200)
    return next(filter(None, (policy.read(word, cwd) for word in words)), None)


def _files(name: str, args: list[str], cwd: str) -> list[str]:
    """The words of a command that may name files: not its patterns, programs, messages or URLs."""
    pattern_first = name in SEARCHERS and not any(
        a.partition("=")[0] in ("-e", "--regexp", "-f", "--file", "--expression")
        or re.fullmatch(r"-[a-z]*e", a)
        for a in args
    )
    words, skip = [], False
    for arg in args:
        if skip or arg in NOT_FILES:
            skip = not skip and arg in NOT_FILES
            continue
        key, equals, value = arg.partition("=")
        if arg.startswith("-"):
            if equals and key not in NOT_FILES and ("/" in value or value.startswith(("~", "."))):
                words.append(value)
            continue
        if pattern_first or "://" in arg:
            pattern_first = False
            continue
        for candidate in {arg, arg.removeprefix("@"), value, arg.partition(":")[2]}:  # @file, if=x, host:x
            path_like = "/" in candidate or candidate.startswith(("~", "."))
            if candidate and (path_like or os.path.lexists(os.path.join(cwd, candidate))):
                words.append(candidate)
    return words


def _writes(policy: Policy, name: str, invocation: Invocation) -> Refusal | None:
    cwd, args = invocation.cwd, invocation.argv[1:]
    if refusal := next(filter(None, (policy.write(t, cwd) for t in targets(name, invocation))), None):
        return refusal
    if name == "ln":  # a link to a file outside: writing through it later writes there
        positional = [a for a in args if not a.startswith("-")]
        symbolic = any(re.fullmatch(r"-[a-zA-Z]*s[a-zA-Z]*|--symbolic", a) for a in args)
        link = positional[-1] if len(positional) > 1 else "."
        base = (link if os.path.isdir(os.path.join(cwd, link)) else os.path.dirname(link)) if symbolic else ""
        if positional and not policy.inside(policy.resolve(positional[0], os.path.join(cwd, base))):
            return Refusal("outside-worktree", f"do not link to {positional[0]}: it is outside the worktree")
    return None


def targets(name: str, invocation: Invocation) -> list[str]:
    """The paths a command writes (creates, changes, moves, deletes), as far as its words tell."""
    args, redirects = invocation.argv[1:], invocation.redirects
    found = [t for op, t in redirects if op in (">", ">>", ">|", "&>", "&>>", "<>")]
    found += [t for op, t in redirects if op == ">&" and not re.fullmatch(r"\d*-?", t)]
    positional, options = _split(args, set(VALUE_OPTIONS.get(name.rstrip("3"), "").split()))
    directory = options.get("-t") or options.get("--target-directory")
    last = [directory] if directory else positional[-1:] if len(positional) > 1 else []
    if name in ("cp", "install", "rsync"):
        found += last
    elif name in REMOVERS:
        found += positional + ([directory] if directory else [])
    elif name in ("chmod", "chown", "chgrp"):
        found += positional[1:]
    elif name == "ln":
        found += last or ["."]
    elif name == "dd":
        found += [a[3:] for a in args if a.startswith("of=")]
    elif name in ("sed", "perl", "ruby") and any(
        re.fullmatch(r"-[a-zA-Z]*i.*|--in-place.*", a) for a in args
    ):
        # the files after the program, or all of them when the program came with -e or -f
        scripted = {"-e", "-f", "--expression"} & options.keys() or any(
            re.fullmatch(r"-[a-z]*e", a) for a in args
        )
        found += positional if scripted else positional[1:]
    elif name in ("awk", "gawk") and "inplace" in args:
        found += positional[1:]
    elif name == "tar":
        short = "".join(a[1:] for a in args if re.fullmatch(r"-[a-zA-Z]+", a)) + (args[0] if args else "")
        if "x" in short or "--extract" in args or "--get" in args:
            found.append(options.get("-C") or options.get("--directory") or ".")
        if "c" in short.replace("C", "") or "--create" in args:
            found += [
                v for a, v in zip(args, args[1:], strict=False) if re.fullmatch(r"-[a-zA-Z]*f|--file", a)
            ]
    elif name == "find" and ("-delete" in args or "-fprint" in args):
        found += args[: next((i for i, a in enumerate(args) if a[:1] in "-!("), len(args))]
        found += [v for f, v in zip(args, args[1:], strict=False) if f == "-fprint"]
    elif name.rstrip("3") in OUTPUTS:
        found += [v for k, v in options.items() if k in OUTPUTS[name.rstrip("3")].split()]
    elif name == "virtualenv" or (name in ("python", "python3") and args[:2] == ["-m", "venv"]):
        found += positional
    elif name == "git":
        found += guard_git.targets(args)
    elif name in ("apply_patch", "applypatch"):
        found += APPLY_PATCH.findall(invocation.stdin or " ".join(args))
    if invocation.code and CODE_WRITES.search(invocation.code):
        found += [p for p in CODE_PATH.findall(invocation.code) if not p.startswith(("/usr/", "/dev/"))]
    return [t for t in found if t]


def _split(args: list[str], with_values: set[str]) -> tuple[list[str], dict[str, str]]:
    """A command's positional words, and its options with their values (`-o FILE`, `--out=FILE`)."""
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            key, _, value = arg.partition("=")
            options[key] = value
        elif arg in with_values:
            options[arg] = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        elif not arg.startswith("-") or arg == "-":
            positional.append(arg)
        i += 1
    return positional, options
