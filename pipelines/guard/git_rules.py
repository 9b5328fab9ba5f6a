"""The guard's rules for git: the worktree shares the mirror's objects, refs and config.

Found past git's own options (`-C DIR`, `-c k=v`, `--git-dir=...`, `--no-pager`...), a subcommand
that publishes (`push`), makes history (`commit`, `merge`, `rebase`, `tag`...), changes refs,
remotes or worktrees (`update-ref`, `branch -D`, `worktree add`, `remote set-url`, `fetch`...) or
writes git's config is refused; so is a `-c` that skips hooks or defines an alias. Reading
(`status`, `diff`, `log`, `show`...), staging and restoring in the worktree are the agent's to do.
"""

from __future__ import annotations

import os
import re

from .policy import Policy, Refusal
from .walk import Invocation

PUSH = ("git-push", "do not push: shipyard pushes the branch itself")
COMMIT = (
    "git-commit",
    "do not commit or rewrite history: shipyard commits the patch (leave it in the worktree)",
)
REFS = ("git-refs", "do not change the mirror's refs, remotes, worktrees or history: shipyard runs git there")
CONFIG = ("git-config", "do not change git's config or aliases: shipyard runs git on the mirror it shares")
CREDENTIALS = ("credentials", "git's credentials are not the change's business")
RULES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("push", "send-pack", "http-push", "send-email"), PUSH),
    **dict.fromkeys(("commit", "commit-tree", "merge", "cherry-pick", "revert", "am", "rebase", "pull", "tag",
                     "notes", "replace", "fast-import", "filter-branch", "filter-repo"), COMMIT),
    **dict.fromkeys(("update-ref", "symbolic-ref", "branch", "checkout", "switch", "worktree", "remote",
                     "fetch", "gc", "prune", "repack", "reflog", "pack-refs", "maintenance", "submodule"),
                    REFS),
    **dict.fromkeys(("credential", "credential-store", "credential-cache"), CREDENTIALS),
}  # fmt: skip
VALUE_OPTIONS = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env",
                 "--list-cmds", "--attr-source"}  # fmt: skip
READ_ONLY = {  # subcommands that change nothing in the repo they are run on
    "status", "diff", "log", "show", "blame", "grep", "ls-files", "ls-tree", "rev-parse", "rev-list",
    "describe", "shortlog", "cat-file", "for-each-ref", "show-ref", "name-rev", "merge-base", "diff-tree",
    "diff-files", "diff-index", "whatchanged", "help", "version", "var", "count-objects", "check-ignore",
    "check-attr", "cherry", "range-diff", "annotate", "config", "branch", "tag", "remote", "reflog",
    "worktree", "fsck", "archive", "format-patch", "bundle",
}  # fmt: skip
UNDO = {"--abort", "--quit", "--skip", "--show-current-patch"}
LISTING = re.compile(
    r"-[avrl]+|-vv|-n\d*|--(list|all|remotes|verbose|verify|show-current|sort|format|color|column|"
    r"contains|no-contains|merged|no-merged|points-at)(=.*)?"
)
BRANCH_WRITES = {"-d", "-D", "--delete", "-m", "-M", "--move", "-c", "-C", "--copy", "-f", "--force", "-u",
                 "--set-upstream-to", "--unset-upstream", "--edit-description", "-t", "--track"}  # fmt: skip
CONFIG_WRITES = re.compile(r"--(unset|unset-all|add|replace-all|rename-section|remove-section|edit)|-e")
CONFIG_VERBS = {"set", "unset", "rename-section", "remove-section", "edit"}
CONFIG_READS = re.compile(r"--(get|get-all|get-regexp|get-urlmatch|list)|-l")


def check_git(policy: Policy, invocation: Invocation) -> Refusal | None:
    """The refusal of one git command: found past git's own options, judged by its subcommand."""
    args, where = invocation.argv[1:], invocation.cwd
    i = 0
    while i < len(args) and args[i].startswith("-"):
        option, equals, attached = args[i].partition("=")
        value = attached if equals else args[i + 1] if option in VALUE_OPTIONS and i + 1 < len(args) else ""
        if option in ("-C", "--git-dir", "--work-tree"):
            where = os.path.join(where, value)
        elif option == "-c" and value.lower().startswith("core.hookspath"):
            return Refusal("no-verify", "do not skip hooks (core.hooksPath)")
        elif (
            (option == "-c" and value.lower().startswith("alias."))
            or option == "--config-env"
            or (option == "--exec-path" and equals)
        ):
            return Refusal(*CONFIG)
        i += 1 if equals or option not in VALUE_OPTIONS else 2
    if i >= len(args):
        return None
    sub, rest = args[i], args[i + 1 :]
    if not sub or "{}" in sub:
        return Refusal("unreadable", "the guard cannot see which git subcommand this runs; name it")
    if sub in ("lfs", "subtree", "svn", "p4", "annex") and rest[:1] in (["push"], ["dcommit"], ["submit"]):
        return Refusal(*PUSH)
    for variable in ("GIT_DIR", "GIT_WORK_TREE"):
        where = os.path.join(where, invocation.env.get(variable, ""))
    if sub == "config":
        return _config(policy, rest, invocation.cwd)
    if sub in RULES and not only_reads(sub, rest):
        return Refusal(*RULES[sub])
    if sub not in READ_ONLY and not policy.inside(policy.resolve(where, invocation.cwd)):
        rule = "reset-outside" if sub == "reset" else "outside-worktree"
        return Refusal(rule, f"git {sub} outside the worktree ({where})")
    return None


def only_reads(sub: str, args: list[str]) -> bool:
    """Whether a subcommand that can change history or refs only lists or undoes, with these args."""
    flags = {a.partition("=")[0] for a in args if a.startswith("-")}
    names = [a for a in args if not a.startswith("-")]
    listing = any(LISTING.fullmatch(a) for a in args)
    if sub in ("merge", "cherry-pick", "revert", "am", "rebase"):
        return bool(flags & UNDO) or (
            sub in ("cherry-pick", "revert") and bool(flags & {"-n", "--no-commit"})
        )
    if sub in ("tag", "replace"):
        return not names or listing
    if sub == "branch":
        return not flags & BRANCH_WRITES and (not names or listing)
    if sub == "checkout":
        return not flags & {"-b", "-B", "--orphan"}
    if sub == "symbolic-ref":
        return len(names) <= 1 and not flags & {"-d", "--delete"}
    if sub in ("notes", "worktree", "remote", "submodule", "reflog"):
        reads = {"notes": ("list", "show"), "worktree": ("list",), "remote": ("get-url", "show"),
                 "submodule": ("status", "summary"), "reflog": ("show",)}[sub]  # fmt: skip
        return not names or names[0] in reads or (sub == "reflog" and names[0] not in ("expire", "delete"))
    return False


def _config(policy: Policy, args: list[str], cwd: str) -> Refusal | None:
    names = [a for a in args if not a.startswith("-")]
    writes = any(CONFIG_WRITES.fullmatch(a) for a in args) or names[:1] and names[0] in CONFIG_VERBS
    reads = any(CONFIG_READS.fullmatch(a) for a in args) or names[:1] in (["get"], ["list"])
    if not writes and (reads or len(names) <= 1):
        return None
    for flag, value in zip(args, args[1:], strict=False):
        if flag in ("-f", "--file") and not {"--global", "--system"} & set(args):
            return policy.write(value, cwd)  # a config file in the worktree (.gitmodules) is the repo's
    return Refusal(*CONFIG)


def targets(args: list[str]) -> list[str]:
    """The paths a git command writes besides the worktree's index: `rm`, `mv`, `init`, `-o DIR`..."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in VALUE_OPTIONS else 1
    sub, rest = (args[i], args[i + 1 :]) if i < len(args) else ("", [])
    names = [a for a in rest if not a.startswith("-")]
    found = [v for f, v in zip(rest, rest[1:], strict=False) if f in ("-o", "--output", "--output-directory")]
    found += [a.partition("=")[2] for a in rest if a.startswith(("--output=", "--output-directory="))]
    if sub in ("rm", "mv", "init"):
        found += names
    elif sub == "clone" or (sub == "bundle" and names[:1] == ["create"]):  # clone URL DIR, bundle create FILE
        found += names[1:2]
    elif sub == "apply":  # the folder its paths are written under
        found += [a.partition("=")[2] for a in rest if a.startswith("--directory=")]
    return found
