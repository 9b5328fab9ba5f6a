"""What the text of a program (`python -c`, `node -e`, `perl -e`, a heredoc, a script) shows it does.

Read statically, so a guess: the strings it holds (`'git' + ' push'` joined, a `qx(...)` or `%x(...)`,
a string inside a string, a base64 literal the program decodes), the shell commands those strings
make when it shells out, whether it sends the whole environment out (`os.environ`,
`process.env`, `%ENV`...) and which secret variables it names. The sandbox is the boundary for what
a program computes at run time; the guard refuses what its text says plainly.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
if TYPE_CHECKING:
    from .walk import Walker

SHELL_OUT = re.compile(
    r"system|subprocess|popen|spawn|\bexec|check_output|check_call|child_process|`|%x|\bqx\b|Open3|"
    r"shell_exec|passthru|proc_open|Runtime|Deno\.(Command|run)|getline|\|\s*\"",
    re.I,
)
LITERAL = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"|`([^`]*)`")
QUOTE_LIKE = re.compile(r"(?:\bq[qxw]|%[xwW])\s*(?:\(([^)]*)\)|\{([^}]*)\}|\[([^\]]*)\]|([/|!])(.*?)\4)")
JOINED = re.compile(r"'\s*\+\s*'|\"\s*\+\s*\"|'\s+\.\s+'|\"\s+\.\s+\"")  # 'git' + ' push', "a" . "b"
NAME = re.compile(r"[A-Za-z_][\w.-]*")  # a command's name: `git`, `/usr/bin/git`, `git-lfs`
BASE64 = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
# the whole environment, not one variable of it (os.environ['HOME'], process.env.CI, $ENV{PATH})
WHOLE_ENV = re.compile(
    r"\benviron\b(?!\s*(\[|\.get\b|\.setdefault\b|\.pop\b))|process\.env\b(?!\s*(\.\w|\[))|%ENV\b|"
    r"\bENV\b(?!\s*[\[{]|\.fetch\b)|\$_(ENV|SERVER)\b(?!\s*\[)|getenv\(\s*\)|['\"](env|printenv)['\"]"
)
CHILD_ENV = re.compile(r"\benv\s*[=:]\s*\{?[^,)]*environ[^,)]*")  # env={**os.environ, ...}: a child's
NETWORK = re.compile(
    r"urllib|urlopen|http\.client|httplib|requests\b|httpx|aiohttp|socket|websocket|smtplib|ftplib|"
    r"telnetlib|fetch\(|XMLHttpRequest|require\(\s*['\"](node:)?(https?|net|dgram|tls|http2)['\"]|"
    r"IO::Socket|LWP|HTTP::Tiny|Net::HTTP|net/http|open-uri|Faraday|curl|wget|Invoke-WebRequest|"
    r"download\.file|url\(|Deno\.connect|Bun\.connect|file_get_contents|fsockopen|curl_exec|"
    r"['\"](https?|ftp|wss?)://",
    re.I,
)
SECRET_VAR = re.compile(
    r"(^|_)(API_?KEY|ACCESS_KEY|PRIVATE_KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIALS?)$", re.I
)
# a variable of the environment, read by name: os.environ['X'], getenv("X"), process.env.X, $ENV{X}, ENV["X"]
READ_VAR = re.compile(
    r"(?:environ(?:\.get)?|getenv|process\.env|\bENV(?:\.fetch)?|\$ENV|\$_ENV|\$_SERVER)\s*[\[({.]\s*"
    r"['\"]?([A-Za-z_][A-Za-z0-9_]*)"
)
# a credential's file or folder, by a name no ordinary string has (policy judges the path: `.env.example`
# is fine)
CREDENTIAL_WORD = re.compile(
    r"\.(ssh|aws|gnupg|kube|docker|azure|password-store)|[._]netrc|\.git-credentials|\.npmrc|\.pypirc|"
    r"\.envrc|\.htpasswd|\.env(\.[\w.-]+)?|id_(rsa|dsa|ecdsa|ed25519)(_sk)?"
)
MAX_SCRIPT = 64 * 1024


def joined(code: str) -> str:
    """`code` with literals concatenated by `+` or `.` written as one (`'git' + ' push'`)."""
    return JOINED.sub("", code)


def strings(code: str) -> list[str]:
    """The string literals of a program, and those inside them, decoded when the program decodes."""
    code = joined(code)
    found = [a or b or c for a, b, c in LITERAL.findall(code)]
    found += ["".join(groups[:3]) + groups[4] for groups in QUOTE_LIKE.findall(code)]
    for text in list(found):  # a string inside a string: exec('os.system("git push")')
        if "'" in text or '"' in text:
            unescaped = text.replace("\\'", "'").replace('\\"', '"')
            found += [a or b or c for a, b, c in LITERAL.findall(unescaped)]
    if re.search(r"b64decode|base64|atob|unpack", code):
        found += [d for s in found if BASE64.fullmatch(s) and (d := _decoded(s))]
    return found


def commands(code: str) -> list[str]:
    """The shell commands a program that shells out may run: each string, and the words from each
    command-like one on (`["git", "push"]` is `git push`); none when it does not shell out."""
    if not SHELL_OUT.search(code[:MAX_SCRIPT]):
        return []
    found = strings(code)
    named = [i for i, s in enumerate(found) if " " not in s and NAME.fullmatch(os.path.basename(s))]
    return found + [" ".join(found[i : i + 8]) for i in named]


def sends_environment(code: str, args: list[str], fed_the_environment: bool) -> bool:
    """Whether a program sends the whole environment over the network: read from its own
    `os.environ` (not handed to a child: `env={**os.environ}`) or from its stdin, fed by `env`."""
    whole = fed_the_environment or dumps_environment(code)
    return whole and bool(NETWORK.search(code[:MAX_SCRIPT] + " " + " ".join(args)))


def dumps_environment(code: str) -> bool:
    """Whether a program reads the whole environment (`print(os.environ)`, `JSON.stringify(process.env)`),
    not one variable of it nor a copy it hands to a child (`env={**os.environ, ...}`)."""
    return bool(WHOLE_ENV.search(CHILD_ENV.sub("", code[:MAX_SCRIPT])))


def secrets(code: str) -> list[str]:
    """The secret-looking variables a program reads from its environment (`ANTHROPIC_API_KEY`...)."""
    return [name for name in READ_VAR.findall(code[:MAX_SCRIPT]) if SECRET_VAR.search(name)]


def credential_strings(code: str) -> list[str]:
    """The strings of a program that name a credential's file or folder (`'.ssh'`, `'id_rsa'`, `'.env'`)."""
    return [s for s in strings(code) if len(s) < 200 and any(map(CREDENTIAL_WORD.fullmatch, s.split("/")))]


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


def _decoded(text: str) -> str | None:
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isprintable() else None
