"""The guard's rules for shell commands: what each command the walk found would do, judged.

Refused: pushing or committing in any spelling, skipping hooks, changing git's config, refs,
remotes or worktrees (git_rules), publishing, talking to a forge or another host (`ssh`, `rsync
host:`, a `/dev/tcp` socket), the machine's services, running what a download or a decoding
printed, naming the model's key or saving or sending the environment that holds it (`env | curl`,
a program that sends `os.environ`), reading credentials (by a glob that could match one too),
writing outside the worktree or to its protected paths (what it writes: `writes`). Arguments
are data: `grep -r "git push" .` and `git log --format='%h commit %s'` are allowed, and so is
reading the environment (`env | grep PATH`).
"""

from __future__ import annotations

import glob
import os
import re
from itertools import islice

from . import git_rules as guard_git
from . import scripts as guard_scripts
from .patterns import check_glob
from .policy import DEVICES, Policy, Refusal
from .programs import INTERPRETERS, PRODUCERS, SHELLS
from .walk import SECRET_VAR, Invocation
from .writes import APPLY_PATCH, CODE_PATH, targets

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
SENDERS = {"curl", "wget", "nc", "ncat", "socat", "http", "https", "xh", "tee", "telnet", "git", "rsync",
           "ftp", "dig", "nslookup", "host", "getent", "ping", "aria2c"}  # fmt: skip
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
ONLY_WRITTEN = {"cp", "install", "rsync", "tee", "touch", "mkdir", "rm", "rmdir", "truncate", "ln", "chmod"}
SOCKET = re.compile(r"/dev/(tcp|udp)/")
REMOTE = re.compile(r"(?:[\w.-]+@)?[\w.-]+:(?!//).*|rsync://.*")  # rsync's other host: `host:path`
KEY_READERS = {
    ("gpg", "--export-secret-keys"), ("gpg", "--export-secret-subkeys"), ("gpg2", "--export-secret-keys"),
    ("secret-tool", "lookup"), ("pass", "show"), ("security", "find-generic-password"),
    ("security", "find-internet-password"), ("keyctl", "print"), ("keyctl", "read"),
}  # fmt: skip
DUMP = "do not save or send the environment: it holds the model's key (reading it is fine)"
NETWORK = "do not open sockets (/dev/tcp, /dev/udp): the change is made here, talking to no other host"


def check(policy: Policy, invocation: Invocation) -> Refusal | None:
    """The refusal of one command, or None. What runs from a script file (or from the strings of a
    program) is judged on intent only: the sandbox holds the paths it reads and writes."""
    name = os.path.basename(invocation.argv[0]) if invocation.argv else ""
    if (refusal := _intent(policy, name, invocation)) or invocation.from_file:
        return refusal or (Refusal("environment", DUMP) if _sends_environment(name, invocation) else None)
    return (
        _environment(name, invocation)
        or _reads(policy, name, invocation)
        or _writes(policy, name, invocation)
    )


def _intent(policy: Policy, name: str, invocation: Invocation) -> Refusal | None:
    """Publishing, history, git's config, forges, other hosts, the machine, downloaded code."""
    args = invocation.argv[1:]
    if any(SOCKET.match(target) for _, target in invocation.redirects):
        return Refusal("network", NETWORK)
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
    if name in REMOTE_SHELLS or (name == "rsync" and any(REMOTE.fullmatch(a) for a in args)):
        return Refusal("remote-shell", f"do not use {name}: the change is made here, with no keys of yours")
    if any((name, a) in KEY_READERS for a in args[:3]):
        return Refusal(
            "credentials", f"do not read keys or passwords with {name}: the change must not need them"
        )
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
    secrets += guard_scripts.secrets(invocation.code or "")
    if secrets:
        return Refusal("credentials", f"{secrets[0]} is a secret; the change must not need it")
    listing = args in ([], ["-p"], ["-x"], ["-px"]) if name in DUMPERS else False
    dump = listing or (name in ("env", "printenv") and all(a.startswith("-") for a in args))
    dump |= invocation.code is not None and guard_scripts.dumps_environment(invocation.code)
    dump |= bool((invocation.piped | invocation.substituted) & DUMPERS)  # env | sort > x, echo "$(env)" > x
    saved = any(
        op in (">", ">>", ">|", "&>", "&>>") and not DEVICES.fullmatch(t) for op, t in invocation.redirects
    )
    if (dump and saved) or _sends_environment(name, invocation):
        return Refusal("environment", DUMP)
    quiet = invocation.stdin is None and not invocation.piped and not invocation.redirects
    if name in SHELLS | INTERPRETERS and invocation.program_on_stdin and quiet:
        return Refusal("interactive", f"run commands directly, not in an interactive {name}")
    return None


def _sends_environment(name: str, invocation: Invocation) -> bool:
    """Whether a command sends the environment out: fed what `env` printed, or a program sending its own."""
    fed = (invocation.piped | invocation.substituted) & DUMPERS
    if name in SENDERS and fed:
        return True
    code, args = invocation.code, invocation.argv[1:]
    if code is None:
        return invocation.sends_environment
    return guard_scripts.sends_environment(code, args, bool(invocation.piped & DUMPERS))


def _reads(policy: Policy, name: str, invocation: Invocation) -> Refusal | None:
    """Credentials among the files a command names (a search pattern or a message is not a file)."""
    cwd, argv, code = invocation.cwd, invocation.argv, invocation.code or ""
    words = [t for op, t in invocation.redirects if op in ("<", "<>")] + CODE_PATH.findall(code)
    words += guard_scripts.credential_strings(code)  # Path.home() / '.ssh' / 'id_rsa'

    written = set(targets(name, invocation)) if name in ONLY_WRITTEN else set()
    words += [w for w in _files(name, argv[1:], cwd) if w not in written] if name not in TEXT else []
    if name == "find" and {"-exec", "-execdir", "-ok", "-okdir"} & set(argv):  # find ~ -name id_rsa -exec
        words += [v for f, v in zip(argv, argv[1:], strict=False) if f in ("-name", "-iname", "-path")]
    for pattern in invocation.globs[:20]:  # what it could match, and what it matches (as the shell: no
        if refusal := check_glob(policy, pattern, cwd, hidden=False):  # dotfile for a bare `*`)
            return refusal
        words += islice(glob.iglob(pattern, root_dir=cwd), 200)
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
        for candidate in {arg, arg.removeprefix("@"), value, value.lstrip("@<"), arg.partition(":")[2]}:
            # @file, if=x, f=@file (curl -F), host:x
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
