"""The guard's policy applied to a finished patch (a `git diff`), whoever made it.

It judges what the patch changes: a protected path touched; a test file deleted (not when it is
renamed, or moved to a file added with the same name or the same test names); a lint suppression
of some kind (`noqa`, `type: ignore`, `eslint-disable`...) that a file has more of after the patch
than before (moving code with its suppressions adds none); something that looks like a secret.
It runs in shipyard's process, never in the hook: it compiles the protected globs with pathspec.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import globs
from pipelines.git import Changed

from .policy import PROTECTED, Refusal, Rule, protects

GITLINK, SYMLINK = "160000", "120000"
GIT_FILES = {  # files git itself acts on, which a patch may not change
    ".gitmodules": "which names submodules git fetches",
    ".gitattributes": "which names filters and diff and merge drivers git runs",
}

SUPPRESSIONS = {
    "noqa": r"#\s*(ruff:\s*|flake8:\s*)?noqa\b",
    "type: ignore": r"#\s*type:\s*ignore\b",
    "pyright: ignore": r"#\s*pyright:\s*(ignore|basic)\b",
    "pragma: no cover": r"#\s*pragma:\s*no\s*(cover|branch)\b",
    "pylint: disable": r"pylint:\s*disable\b",
    "nosec": r"#\s*nosec\b",
    "eslint-disable": r"eslint-disable\b",
    "ts-ignore": r"@ts-(ignore|expect-error|nocheck)\b",
    "nolint": r"//\s*nolint\b",
    "rubocop:disable": r"rubocop:\s*disable\b",
    "SuppressWarnings": r"@SuppressWarnings\b",
    "allow": r"#!?\[allow\(",
}
KINDS = {kind: re.compile(pattern) for kind, pattern in SUPPRESSIONS.items()}
SECRET = re.compile(
    r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{36}|glpat-[A-Za-z0-9_-]{20}|"
    r"xox[bp]-[A-Za-z0-9-]{10,}|sk-ant-[A-Za-z0-9_-]{20,}"
)
TEST_FILE = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.(py|go)$|[^/]*\.(test|spec)\.[jt]sx?$)")
TEST_NAME = re.compile(r"^\s*(?:async\s+)?(?:def|class|func)\s+((?:test|Test)\w*)", re.M)


@dataclass
class FileDiff:
    old: str
    new: str
    deleted: bool = False
    added: bool = False
    removed: list[str] = field(default_factory=list)
    added_lines: list[str] = field(default_factory=list)


def check_patch(
    patch: str, protected: Sequence[str] = PROTECTED, changes: Sequence[Changed] | None = None,
    tree: Path | None = None,
) -> list[Refusal]:  # fmt: skip
    """The policy applied after the fact to a unified diff, for every agent.

    `protected` are gitignore-style globs, judged by the same regexes as in the hook. `changes`
    are the same diff as git's machine output (`git diff --raw -z`): what it says of paths and
    modes is taken as it is, never re-read from the patch's text; `tree` holds the change (the
    worktree), where a symlink's target is read.
    """
    rules = globs.rules(protected)
    files = _files(patch)
    moved = _moves(files)
    by_old = {f.old: f for f in files}
    found: list[Refusal] = []
    for diff in files:
        if diff.deleted and TEST_FILE.search(diff.old) and diff.old not in moved:
            found.append(Refusal("deleted-test", f"the patch deletes the test file {diff.old}"))
        before = _count(diff.removed)  # what a file had, counting what moved into it from a deleted one
        for source in (old for old, target in moved.items() if target is diff):
            before += _count(by_old[source].removed)
        for kind, count in _count(diff.added_lines).items():
            if count > before[kind]:
                line = next(x for x in diff.added_lines if KINDS[kind].search(x)).strip()
                found.append(
                    Refusal("new-suppression", f"{diff.new} adds a `{kind}` suppression: {line[:80]}")
                )
        if any(SECRET.search(x) for x in diff.added_lines):
            found.append(Refusal("secret", f"{diff.new} adds what looks like a secret"))
    for change in changes if changes is not None else [Changed("M", "", "", f.old, f.new) for f in files]:
        found += _path_rules(change, rules, tree)
    return found


def _path_rules(change: Changed, rules: Sequence[Rule], tree: Path | None) -> list[Refusal]:
    """What a changed path may not be: protected, git's own machinery, a link out of the tree."""
    found = []
    if any(protects(rules, p) for p in change.paths):
        found.append(Refusal("protected-path", f"the patch changes protected {change.new}"))
    if GITLINK in (change.old_mode, change.new_mode):
        found.append(
            Refusal(
                "gitlink", f"{change.new} is a submodule (a gitlink): the patch may not add or change one"
            )
        )
    for path in change.paths:
        name = os.path.basename(path)
        if name in GIT_FILES:
            what = GIT_FILES[name]
            found.append(Refusal(name.lstrip("."), f"the patch changes {path}, {what}: only a person may"))
    if change.new_mode == SYMLINK and tree is not None:
        link = tree / change.new
        if not Path(os.path.realpath(link)).is_relative_to(os.path.realpath(tree)):
            target = os.readlink(link) if link.is_symlink() else "?"
            found.append(Refusal("symlink-out", f"{change.new} is a link out of the tree (to {target})"))
    return found


def _moves(files: list[FileDiff]) -> dict[str, FileDiff | None]:
    """Each deleted file that reappears: to an added file of the same name, or as its test names."""
    added = [f for f in files if f.added]
    tests_added = set(TEST_NAME.findall("\n".join(x for f in files for x in f.added_lines)))
    moves: dict[str, FileDiff | None] = {}
    for gone in (f for f in files if f.deleted):
        test = TEST_FILE.search(gone.old)  # a test moves to a test file
        same_name = [f for f in added if os.path.basename(f.new) == os.path.basename(gone.old)]
        same_name = [f for f in same_name if not test or TEST_FILE.search(f.new)]
        names = set(TEST_NAME.findall("\n".join(gone.removed)))
        if same_name:
            moves[gone.old] = same_name[0]
        elif names and names <= tests_added:
            moves[gone.old] = None
    return moves


def _count(lines: list[str]) -> Counter[str]:
    return Counter(kind for line in lines for kind, pattern in KINDS.items() for _ in pattern.finditer(line))


def _files(patch: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    in_hunk = False
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            old, new = _header(line[len("diff --git ") :])  # the ---/+++ lines say it exactly
            files.append(FileDiff(old, new))
            in_hunk = False
        elif not files:
            continue
        elif line.startswith("@@"):
            in_hunk = True
        elif not in_hunk:
            diff = files[-1]
            diff.deleted |= line.startswith("deleted file mode")
            diff.added |= line.startswith("new file mode")
            if line.startswith(("rename from ", "copy from ", "--- a/")):
                diff.old = _unquote(line.split(" ", 2)[2] if line[0] != "-" else line[6:])
            elif line.startswith(("rename to ", "copy to ", "+++ b/")):
                diff.new = _unquote(line.split(" ", 2)[2] if line[0] != "+" else line[6:])
        elif line.startswith("+"):
            files[-1].added_lines.append(line[1:])
        elif line.startswith("-"):
            files[-1].removed.append(line[1:])
    return files


def _header(rest: str) -> tuple[str, str]:
    """The two paths of `diff --git a/OLD b/NEW`, either of them quoted as git quotes names."""
    if rest.startswith('"'):
        end = next(i for i in range(1, len(rest)) if rest[i] == '"' and rest[i - 1 : i] != "\\")
        old, new = rest[: end + 1], rest[end + 2 :]
    else:
        old, _, new = rest.partition(" b/")
        new = "b/" + new
    return _unquote(old), _unquote(new)


ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(path: str) -> str:
    """A path as git prints it, without its `a/` or `b/` and the C-style quoting git gives names
    with unusual bytes (`"a/ci-\\303\\251.yml"` is `ci-é.yml`)."""
    if path.startswith('"') and path.endswith('"') and len(path) > 1:
        out, body, i = bytearray(), path[1:-1], 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                if body[i + 1] in "01234567":
                    out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
                    i += 4
                    continue
                out.append(ESCAPES.get(body[i + 1], ord(body[i + 1])))
                i += 2
                continue
            out += body[i].encode()
            i += 1
        path = out.decode(errors="surrogateescape")
    return path.removeprefix("a/").removeprefix("b/")
