"""Shell text as the guard reads it: the simple commands it would run, in one linear pass.

`parse` splits a script on `;`, `&&`, `||`, `|`, `&`, newlines and parentheses, and reads every
substitution that runs a command (`$(...)`, backticks, `<(...)`, `>(...)`, `${x:-$(...)}`, and
those in unquoted here-documents) as commands of its own. Quotes are removed the way the shell
removes them, so a quoted argument stays one word (`grep "git push"` is grep with one pattern).
Nothing is expanded here: a word keeps its variables and substitutions as parts (`walk`
expands them). Each character is read once; nesting deeper than `MAX_DEPTH` is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_DEPTH = 40
PLAIN = re.compile(r"[^\s'\"\\$`;&|()<>~]+")
DQUOTED = re.compile(r"[^\"\\$`]+")
BODY = re.compile(r"[^\\$`]+")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TILDE = re.compile(r"~[\w.-]*")
REDIRECT = re.compile(r"(\d*)(>>|>&|>\||<<<|<<-|<<|<&|<>|>|<)|&>>|&>")
OPERATOR = re.compile(r";;&|;;|;&|&&|\|\||\|&|[;&|]")
PARAMETER = re.compile(r"[#!]?([A-Za-z_][A-Za-z0-9_]*|\d+|[@*#?$!-])(:?[-=?+]|[:#%/^,@].*)?", re.S)
ANSI_C = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)", re.S)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f"}


class ShellError(ValueError):
    """The text is beyond what the guard reads (too deeply nested): it is refused, not guessed."""


@dataclass(frozen=True)
class Var:
    """`$name`, `${name...}` or a leading `~`/`~user` (name "~"), with the default it may fall back to."""

    name: str
    quoted: bool
    default: Word | None = None


@dataclass(frozen=True)
class Sub:
    """A substitution: the commands it runs (none for arithmetic)."""

    kind: str
    commands: tuple[Command, ...]


Part = str | Var | Sub


@dataclass
class Word:
    parts: list[Part] = field(default_factory=list)
    quoted: bool = False  # some of it was quoted or escaped: not split, not a glob


@dataclass
class Heredoc:
    delimiter: str
    strip_tabs: bool
    quoted: bool
    body: str = ""


@dataclass
class Command:
    """One simple command: its words, its redirections, what feeds its standard input."""

    words: list[Word] = field(default_factory=list)
    redirects: list[tuple[str, Word]] = field(default_factory=list)  # (operator, target)
    heredocs: list[Heredoc] = field(default_factory=list)
    piped_from: Command | None = None  # the previous stage of its pipeline
    scope: int = 0  # +1 opens a subshell, -1 closes one (markers with no words)


def parse(text: str) -> list[Command]:
    """Every simple command of `text`, substitutions' commands before the command that uses them."""
    parser = _Parser(text, [], 0)
    parser.commands(stop=None)
    return parser.out


class _Parser:
    def __init__(self, text: str, out: list[Command], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ShellError(f"more than {MAX_DEPTH} nested substitutions")
        self.s, self.i, self.out, self.depth = text, 0, out, depth
        self.pending: list[Heredoc] = []

    def commands(self, stop: str | None) -> None:
        s, current, parens = self.s, Command(), 0
        while True:
            self._blanks()
            if self.i >= len(s):
                break
            c = s[self.i]
            if c == ")" and stop == ")" and parens == 0:
                self.i += 1
                break
            if c == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            elif c == "\n":
                self.i += 1
                current = self._finish(current, piped=False)
                self._read_heredocs()
            elif c in "()":
                self.i += 1
                parens += 1 if c == "(" else -1 if parens > 0 else 0
                current = self._finish(current, piped=False)
                self.out.append(Command(scope=1 if c == "(" else -1))
            elif (m := REDIRECT.match(s, self.i)) and not s.startswith(("<(", ">("), self.i):
                self.i = m.end()
                self._redirect(current, m.group(2) or m.group(0))
            elif m := OPERATOR.match(s, self.i):
                self.i = m.end()
                current = self._finish(current, piped=m.group() in ("|", "|&"))
            else:
                current.words.append(self._word())
        self._finish(current, piped=False)

    def _finish(self, command: Command, piped: bool) -> Command:
        if command.words or command.redirects:
            self.out.append(command)
        return Command(piped_from=command if piped else None)

    def _blanks(self) -> None:
        s = self.s
        while self.i < len(s):
            if s[self.i] in " \t\r":
                self.i += 1
            elif s.startswith("\\\n", self.i):
                self.i += 2
            else:
                return

    def _redirect(self, command: Command, op: str) -> None:
        self._blanks()
        target = self._word()
        command.redirects.append((op, target))
        if op in ("<<", "<<-"):
            parts = target.parts  # the delimiter is the word as written: `<<$X` ends at a line `$X`
            delimiter = "".join(p if isinstance(p, str) else "$" + getattr(p, "name", "") for p in parts)
            heredoc = Heredoc(delimiter, op == "<<-", target.quoted)
            command.heredocs.append(heredoc)
            self.pending.append(heredoc)

    def _read_heredocs(self) -> None:
        s = self.s
        for heredoc in self.pending:
            lines = []
            while self.i < len(s):
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line = s[self.i : end]
                self.i = end + 1
                if (line.lstrip("\t") if heredoc.strip_tabs else line) == heredoc.delimiter:
                    break
                lines.append(line)
            heredoc.body = "\n".join(lines)
            if not heredoc.quoted:  # its $(...) and backticks run
                _Parser(heredoc.body, self.out, self.depth + 1)._quoted([], end=None)
        self.pending = []

    def _word(self) -> Word:
        s, word, start = self.s, Word(), self.i
        if s.startswith(("<(", ">("), self.i):
            self.i += 2
            word.parts.append(Sub(s[start], self._nested()))
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n;&|()<>":
                break
            if c == "\\":
                if s.startswith("\\\n", self.i):
                    self.i += 2
                    continue
                word.parts.append(s[self.i + 1 : self.i + 2])
                word.quoted, self.i = True, self.i + 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = len(s) if end < 0 else end
                word.parts.append(s[self.i + 1 : end])
                word.quoted, self.i = True, end + 1
            elif c == '"':
                self.i += 1
                self._quoted(word.parts, end='"')
                word.quoted = True
            elif c == "$":
                word.quoted |= s.startswith(("$'", '$"'), self.i)
                self._dollar(word.parts, quoted=False)
            elif c == "`":
                self._backtick(word.parts)
            elif c == "~" and self.i == start:
                tilde = TILDE.match(s, self.i)
                assert tilde is not None
                word.parts.append(Var(tilde.group(), quoted=False))
                self.i = tilde.end()
            else:
                m = PLAIN.match(s, self.i)
                word.parts.append(m.group() if m else c)
                self.i = m.end() if m else self.i + 1
        return word

    def _quoted(self, parts: list[Part], end: str | None) -> None:
        """Inside double quotes (end='"'), or an unquoted here-document's body (end=None)."""
        s, plain = self.s, DQUOTED if end else BODY
        while self.i < len(s):
            c = s[self.i]
            if c == end:
                self.i += 1
                return
            if c == "\\" and s[self.i + 1 : self.i + 2] in ("$", "`", '"', "\\", "\n"):
                parts.append(s[self.i + 1].replace("\n", ""))
                self.i += 2
            elif c == "$":
                self._dollar(parts, quoted=True)
            elif c == "`":
                self._backtick(parts)
            else:
                m = plain.match(s, self.i)
                parts.append(m.group() if m else c)
                self.i = m.end() if m else self.i + 1

    def _dollar(self, parts: list[Part], quoted: bool) -> None:
        s, i = self.s, self.i
        after = s[i + 1 : i + 2]
        if s.startswith("$((", i):
            self.i = _closing(s, i + 3, "(", ")", need=2)
            parts.append(Sub("$((", ()))
        elif after == "(":
            self.i += 2
            parts.append(Sub("$(", self._nested()))
        elif after == "{":
            self.i = _closing(s, i + 2, "{", "}", need=1)
            parts.append(self._parameter(s[i + 2 : self.i - 1], quoted))
        elif after == "'" and not quoted:
            end = i + 2
            while end < len(s) and s[end] != "'":
                end += 2 if s[end] == "\\" else 1
            parts.append(ANSI_C.sub(_unescape, s[i + 2 : end]))
            self.i = end + 1
        elif after == '"' and not quoted:
            self.i += 2
            self._quoted(parts, end='"')
        elif m := NAME.match(s, i + 1):
            parts.append(Var(m.group(), quoted))
            self.i = m.end()
        elif after and after in "0123456789@*#?$!-":
            parts.append(Var(after, quoted))
            self.i += 2
        else:
            parts.append("$")
            self.i += 1

    def _parameter(self, text: str, quoted: bool) -> Part:
        m = PARAMETER.match(text)
        if m is None:
            return Var("?", quoted)
        default = None
        if m.group(2) in (":-", "-", ":=", "="):
            default = Word()
            _Parser(text[m.end() :], self.out, self.depth + 1)._quoted(default.parts, end=None)
        return Var(m.group(1), quoted, default)

    def _nested(self) -> tuple[Command, ...]:
        """The commands of `$(...)`, `<(...)` or `>(...)`, read up to the closing parenthesis."""
        if self.depth >= MAX_DEPTH:
            raise ShellError(f"more than {MAX_DEPTH} nested substitutions")
        start = len(self.out)
        self.out.append(Command(scope=1))
        self.depth += 1
        self.commands(stop=")")
        self.depth -= 1
        self.out.append(Command(scope=-1))
        return tuple(c for c in self.out[start:] if c.words or c.redirects)

    def _backtick(self, parts: list[Part]) -> None:
        s, i, inner = self.s, self.i + 1, []
        while i < len(s) and s[i] != "`":
            if s[i] == "\\" and s[i + 1 : i + 2] in ("`", "\\", "$"):
                i += 1
            inner.append(s[i])
            i += 1
        self.i = i + 1
        start = len(self.out)
        self.out.append(Command(scope=1))
        _Parser("".join(inner), self.out, self.depth + 1).commands(stop=None)
        self.out.append(Command(scope=-1))
        parts.append(Sub("`", tuple(c for c in self.out[start:] if c.words or c.redirects)))


def _closing(s: str, i: int, opening: str, closing: str, need: int) -> int:
    """The index after the `need` closing characters that balance what is open at `i`."""
    depth, quote = need, ""
    while i < len(s):
        c = s[i]
        if quote:
            quote = "" if c == quote else quote
            i += 2 if c == "\\" and quote == '"' else 1
            continue
        if c == "\\":
            i += 2
            continue
        if c in "'\"":
            quote = c
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(s)


def _unescape(m: re.Match[str]) -> str:
    """One escape of a `$'...'` string, decoded as bash decodes it (`$'\\x67it'` is `git`)."""
    code = m.group(1)
    if code[0] in "xuU" and len(code) > 1:
        return chr(min(int(code[1:], 16), 0x10FFFF))
    if code[0] in "01234567":
        return chr(int(code, 8))
    if code[0] == "c" and len(code) > 1:
        return chr(ord(code[1]) & 31)
    return ESCAPES.get(code, code)
