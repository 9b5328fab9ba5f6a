"""Glob patterns judged by what they could match, not only by what they match today.

`cat ~/.ss*/id*` reads a key whether or not this machine holds one, and a Grep `glob: ".env*"` names
the `.env` it would search: a pattern is refused when a credential's path could match it. Each
folder or file name of the pattern with wildcards and some literal text (`.ss*`, `id*`, `*.env`)
stands for every credential name it matches (`.ssh`, `id_rsa`, `.env`), and the path those make is
judged as a path. A bare wildcard (`*`, `**`, `[0-9]*`) stands for nothing: `cat src/*` is ordinary
work, and the files it does match are judged one by one. Braces (`~/.{ssh,aws}`) expand first, as
the shell expands them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from itertools import islice, product

from .policy import Policy, Refusal

# The names of credential files and folders a wildcard may stand for (policy's regexes judge the path).
CREDENTIAL_NAMES = (
    ".ssh", ".aws", ".gnupg", ".kube", ".docker", ".azure", ".password-store", ".config", "gh", "gcloud",
    "config.json", "auth.json", ".codex", ".netrc", ".git-credentials", ".npmrc", ".pypirc", ".envrc",
    ".htpasswd", ".env", ".env.local", ".env.production", "id_rsa", "id_ed25519", "id_ecdsa", "id_dsa",
    "credentials", "environ", "shadow", "gshadow", "secrets", "server.pem", "server.key",
)  # fmt: skip
WILDCARD = re.compile(r"\[[^\]]*\]|[*?]")
BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")
MAX_WORDS = 64  # what one pattern may expand to: past it, the rest is not judged by name


def braces(word: str) -> list[str]:
    """`word` with its `{a,b}` groups expanded as the shell expands them (innermost first), at most 64."""
    words = [word]
    while len(words) < MAX_WORDS and (i := next((k for k, w in enumerate(words) if "," in w), -1)) >= 0:
        if (m := BRACES.search(words[i])) is None:
            break
        head, tail = words[i][: m.start()], words[i][m.end() :]
        words[i : i + 1] = [head + choice + tail for choice in m.group(1).split(",")]
    return words[:MAX_WORDS]


def check_glob(policy: Policy, pattern: str, cwd: str, hidden: bool) -> Refusal | None:
    """The refusal of reading what `pattern` could match (relative to `cwd`), or None.

    `hidden`: a wildcard matches a name that starts with a dot (ripgrep's and the Glob tool's
    globs), not only a pattern that starts with one (the shell's, which the caller also expands:
    in the worktree the files it matches are all there is to judge)."""
    for word in braces(pattern):
        if refusal := policy.read(word, cwd):
            return refusal
        resolved = policy.resolve(word, cwd)
        if not hidden and policy.inside(resolved):  # the shell's glob, in the worktree: what it matches is
            continue  # judged file by file (`ls .*` is ordinary; `cat .e*` reads the .env it finds)
        for candidate in islice(_candidates(resolved, hidden), MAX_WORDS):
            if policy.is_credential(candidate, candidate):
                reason = f"{pattern} could match {candidate}, which holds credentials"
                return Refusal("credentials", f"{reason}; the change must not need them")
    return None


def _candidates(resolved: str, hidden: bool) -> Iterator[str]:
    """The paths `resolved` could name, each wildcard name with literal text read as a credential name."""
    choices = []
    for name in resolved.split("/"):
        literal = WILDCARD.sub("", name)
        dotted = hidden or name.startswith(".")
        names = [c for c in CREDENTIAL_NAMES if fnmatchcase(c, name) and (dotted or not c.startswith("."))]
        choices.append(names if literal and literal != name and names else [name])
    if any(len(c) > 1 or c[0] != name for c, name in zip(choices, resolved.split("/"), strict=True)):
        yield from ("/".join(parts) for parts in product(*choices))
