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

from pipelines import globs

from .policy import PROTECTED, Refusal, protects

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


def check_patch(patch: str, protected: Sequence[str] = PROTECTED) -> list[Refusal]:
    """The policy applied after the fact to a unified diff, for every agent.

    `protected` are gitignore-style globs, judged by the same regexes as in the hook.
    """
    rules = globs.rules(protected)
    files = _files(patch)
    moved = _moves(files)
    by_old = {f.old: f for f in files}
    found: list[Refusal] = []
    for diff in files:
        if any(protects(rules, p) for p in (diff.old, diff.new)):
            found.append(Refusal("protected-path", f"the patch changes protected {diff.new or diff.old}"))
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
            old, _, new = line[len("diff --git ") :].partition(" b/")  # the ---/+++ lines say it exactly
            files.append(FileDiff(old.removeprefix("a/"), new))
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


def _unquote(path: str) -> str:
    """A path as git prints it, without the quotes it puts around unusual names."""
    return path.strip('"').removeprefix("a/").removeprefix("b/") if path.startswith('"') else path
