"""What the guard judges a path by: where it really is, whether it is the worktree's, what it holds.

A path is resolved before it is judged: `~` and `$HOME` from the environment the agent runs in,
relative to the directory the command runs in, `..` and symlinks followed (`os.path.realpath`).
Credentials are known by their resolved path and by their file name (`.env`, `id_rsa`, `*.pem`,
a file named `token`...), never by a substring of it: `src/tokenizer.py` is an ordinary file.
Protected paths are gitignore-style globs, judged here as regexes: shipyard compiles them with
pathspec (`pipelines.globs.rules`), which the hook, standard library only, cannot import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike

PROTECTED = (
    ".github/**", ".gitlab-ci.yml", ".gitlab/**", ".circleci/**", ".pre-commit-config.yaml",
    "ruff.toml", ".ruff.toml", "pytest.ini", "tox.ini", "tach.toml", ".claude/settings*.json",
    ".codex/**", ".gitleaks.toml", ".secrets.baseline",
)  # fmt: skip
GIT_LINK = (".git",)  # the worktree's link to the mirror, or any .git: protected whatever the repo says
Rule = tuple[str, bool]  # a glob as pathspec compiles it: its regex, and False for a `!` glob
# PROTECTED and GIT_LINK as `pipelines.globs.rules` compiles them (tests/guard_test.py holds them equal)
PROTECTED_RULES: tuple[Rule, ...] = (
    (r"^\.github/", True),
    (r"^(?:.+/)?\.gitlab\-ci\.yml(?:(?P<ps_d>/)|$)", True),
    (r"^\.gitlab/", True),
    (r"^\.circleci/", True),
    (r"^(?:.+/)?\.pre\-commit\-config\.yaml(?:(?P<ps_d>/)|$)", True),
    (r"^(?:.+/)?ruff\.toml(?:(?P<ps_d>/)|$)", True),
    (r"^(?:.+/)?\.ruff\.toml(?:(?P<ps_d>/)|$)", True),
    (r"^(?:.+/)?pytest\.ini(?:(?P<ps_d>/)|$)", True),
    (r"^(?:.+/)?tox\.ini(?:(?P<ps_d>/)|$)", True),
    (r"^(?:.+/)?tach\.toml(?:(?P<ps_d>/)|$)", True),
    (r"^\.claude/settings[^/]*\.json(?:(?P<ps_d>/)|$)", True),
    (r"^\.codex/", True),
    (r"^(?:.+/)?\.gitleaks\.toml(?:(?P<ps_d>/)|$)", True),
    (r"^(?:.+/)?\.secrets\.baseline(?:(?P<ps_d>/)|$)", True),
)
GIT_LINK_RULES: tuple[Rule, ...] = ((r"^(?:.+/)?\.git(?:(?P<ps_d>/)|$)", True),)
CREDENTIAL_PLACES = re.compile(
    r"/\.(ssh|gnupg|aws|azure|kube|password-store|docker/config\.json|config/(gh|hub|glab-cli|gcloud))(/|$)|"
    r"/\.local/share/keyrings(/|$)|/\.codex/auth\.json$|/\.cargo/credentials(\.toml)?$|/\.gem/credentials$|"
    r"^/proc/.*environ$|^/etc/(g?shadow-?|sudoers(\.d/.*)?|ssh/ssh_host_\w+_key)$|^/run/secrets(/|$)"
)
CREDENTIAL_NAMES = re.compile(
    r"\.netrc|_netrc|\.git-credentials|\.npmrc|\.pypirc|\.envrc|\.htpasswd|\.credentials\.json|"
    r"credentials(\.json)?|\.env(\.(?!(example|sample|template|dist|defaults?)$)[\w.-]+)?|"
    r".*\.(pem|key|p12|pfx|jks|keystore|kdbx)|id_(rsa|dsa|ecdsa|ed25519)(_sk)?|(.*[._-])?token"
)
DEVICES = re.compile(r"/dev/(null|zero|stdout|stderr|stdin|tty|fd/\d+)|/proc/self/fd/\d+")
SYSTEM_TEMP = ("/tmp", "/var/tmp", "/dev/shm", "/usr/tmp")


def protects(rules: Sequence[Rule], path: str) -> bool:
    """Whether `rules` select `path`, as pathspec's GitIgnoreSpec decides: the last rule that matches
    wins, except that a `!` rule matching only a folder above `path` (its `ps_d` group) does not take
    back a rule that matched `path` itself (tests/guard_test.py holds the two equal)."""
    selected, rank = False, 0
    for regex, include in rules:
        if (match := re.search(regex, path)) is None:
            continue
        here = 1 if match.groupdict().get("ps_d") else 2  # 1: through a folder above `path`
        if (include and here == 1) or here >= rank:
            selected, rank = include, here
    return selected


@dataclass(frozen=True)
class Refusal:
    rule: str
    reason: str


@dataclass(frozen=True)
class Policy:
    worktree: str | PathLike[str]
    protected: tuple[Rule, ...] = PROTECTED_RULES  # the repo's `protect:` globs, compiled (Rule)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), compare=False, repr=False)
    known: dict[tuple[str, str], str] = field(default_factory=dict, init=False, compare=False, repr=False)
    # ^ paths already resolved: a long command names the same few files many times

    @cached_property
    def root(self) -> str:
        return os.path.realpath(self.worktree)

    @property
    def home(self) -> str:
        return self.env.get("HOME") or os.path.expanduser("~")

    def resolve(self, path: str, cwd: str | PathLike[str]) -> str:
        """`path` as the file system will find it: absolute, `~`/`$HOME` expanded, symlinks followed."""
        key = (path, os.fspath(cwd))
        if key not in self.known:
            full = re.sub(r"^\$(HOME\b|\{HOME\})", lambda _: self.home, path)
            if full == "~" or full.startswith("~/"):
                full = self.home + full[1:]
            elif full.startswith("~"):
                full = os.path.expanduser(full)
            self.known[key] = os.path.realpath(os.path.join(cwd, full))
        return self.known[key]

    def inside(self, resolved: str) -> bool:
        root = self.root
        return resolved == root or resolved.startswith(root.rstrip("/") + "/")

    def relative(self, resolved: str) -> str:
        return resolved[len(self.root) + 1 :] if resolved != self.root else "."

    def is_protected(self, relative: str) -> bool:
        # apart: a repo's `!.git` takes back nothing
        return protects(GIT_LINK_RULES, relative) or protects(self.protected, relative)

    def is_credential(self, path: str, resolved: str) -> bool:
        return any(
            CREDENTIAL_PLACES.search(p) or CREDENTIAL_NAMES.fullmatch(os.path.basename(p.rstrip("/")))
            for p in (path, resolved)
        )

    def scratch(self, resolved: str) -> bool:
        """Inside the agent's own TMPDIR (shipyard gives each run one of its own), not a shared one."""
        tmp = self.env.get("TMPDIR")
        if not tmp or os.path.realpath(tmp) in ("/", *SYSTEM_TEMP) or not os.path.isabs(tmp):
            return False
        tmp = os.path.realpath(tmp)
        return resolved == tmp or resolved.startswith(tmp.rstrip("/") + "/")

    def read(self, path: str, cwd: str | PathLike[str]) -> Refusal | None:
        """The refusal of reading `path` (only credentials are out of bounds), or None."""
        if not path or DEVICES.fullmatch(path):
            return None
        resolved = self.resolve(path, cwd)
        if self.is_credential(path, resolved):
            return Refusal("credentials", f"{path} holds credentials; the change must not need them")
        return None

    def write(self, path: str, cwd: str | PathLike[str]) -> Refusal | None:
        """The refusal of writing (creating, changing, moving, deleting) `path`, or None."""
        if DEVICES.fullmatch(path):
            return None
        resolved = self.resolve(path, cwd)
        if not self.inside(resolved):
            if self.scratch(resolved):
                return None
            where = f" (it resolves to {resolved})" if resolved != path else ""
            return Refusal("outside-worktree", f"{path} is outside the repo's worktree {self.root}{where}")
        if self.is_protected(self.relative(resolved)):
            return Refusal("protected-path", f"{path} is protected in this repo (gate or CI config)")
        return None
