"""What a command writes (creates, changes, moves, deletes), as far as its words tell.

Its redirections, the positional words a writer takes (`cp`'s last, `rm`'s all, `sed -i`'s files),
the options that name an output (`curl -o`, `wget -O`, `sort -o`, `pip --target`, short options
together too: `curl -sSLo FILE`), the folder a download saves into when they name none (`curl -O`,
`wget URL`: the current one), what `tar` extracts into or creates, git's (`git_rules.targets`), and
the paths a program's text writes to.
"""

from __future__ import annotations

import re

from . import git_rules as guard_git

TYPE_CHECKING = False  # typing's own, without the import: the hook starts on every tool call
if TYPE_CHECKING:
    from .walk import Invocation

REMOVERS = {"mv", "rm", "rmdir", "unlink", "shred", "touch", "mkdir", "tee", "truncate", "mkfifo", "gzip",
            "gunzip", "bzip2", "bunzip2", "xz", "unxz"}  # fmt: skip
VALUE_OPTIONS = {  # the options that take a value, per command
    "cp": "-t -S", "mv": "-t -S", "install": "-t -m -o -g -S", "ln": "-t -S", "mkdir": "-m",
    "touch": "-d -t -r", "truncate": "-s -r", "sed": "-e -f -l --expression --file", "perl": "-e -E -I -M",
    "ruby": "-e -I -r", "curl": "-o -d -H -X -u -A -e -F -T -D -c -b -w -P -K -x -m -r --output "
    "--output-dir --data --data-binary --data-raw --data-urlencode --header --request --user --upload-file "
    "--form --cookie --cookie-jar --dump-header --trace --trace-ascii --stderr --libcurl --etag-save "
    "--config --url",
    "wget": "-O -P -o -a -e -U -t -T --output-document --directory-prefix --output-file --append-output "
    "--post-data --post-file --header", "aria2c": "-d -o --dir --out", "http": "-o --output",
    "xh": "-o --output", "tar": "-C -f -T -X --file --directory", "unzip": "-d -x",
    "patch": "-o -d -i -p", "sort": "-o -k -t -S", "pip": "-t -d -r -c -i -e --target --prefix --root --dest",
    "gzip": "-S", "rsync": "-e -f --exclude --include", "python": "-m -c -W -X", "awk": "-i -v -f -F",
    "gawk": "-i -v -f -F",
}  # fmt: skip
OUTPUTS = {  # the options that name what a command writes
    "curl": "-o --output --output-dir -D --dump-header -c --cookie-jar --trace --trace-ascii --stderr "
    "--libcurl --etag-save",
    "wget": "-O --output-document -P --directory-prefix -o -a --output-file --append-output",
    "aria2c": "-d --dir -o --out", "http": "-o --output", "xh": "-o --output", "unzip": "-d",
    "patch": "-o --output", "sort": "-o --output", "pip": "-t --target --prefix --root -d --dest",
}  # fmt: skip
CODE_WRITES = re.compile(
    r"open\([^)]{0,200}['\"][wax]|write_(text|bytes)|writeFile|appendFile|shutil\.|rmtree|\.touch\(|copyfile|"
    r"os\.(remove|unlink|rename|replace|symlink|link|mkdir|makedirs|rmdir|chmod)|File\.(write|open|delete)|"
    r"open\s*\(?\s*\w*\s*,\s*['\"][>+]|fs\.\w+Sync|file_put_contents|unlink\s*\(|>>?\s*['\"]"
)
CODE_PATH = re.compile(r"['\"][<>+ ]*((?:~|\$HOME|\.\.)?/[^'\"\s]*|\.\.)['\"]")
APPLY_PATCH = re.compile(r"^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+?)\s*$", re.M)


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
        found += _tar_targets(args, options)
    elif name == "find" and ("-delete" in args or "-fprint" in args):
        found += args[: next((i for i, a in enumerate(args) if a[:1] in "-!("), len(args))]
        found += [v for f, v in zip(args, args[1:], strict=False) if f == "-fprint"]
    elif name.rstrip("3") in OUTPUTS:
        found += _outputs(name.rstrip("3"), options)
    elif name == "virtualenv" or (name in ("python", "python3") and args[:2] == ["-m", "venv"]):
        found += positional
    elif name == "git":
        found += guard_git.targets(args)
    elif name in ("apply_patch", "applypatch"):
        found += APPLY_PATCH.findall(invocation.stdin or " ".join(args))
    if invocation.code and CODE_WRITES.search(invocation.code):
        found += [p for p in CODE_PATH.findall(invocation.code) if not p.startswith(("/usr/", "/dev/"))]
    return [t for t in found if t]


def _tar_targets(args: list[str], options: dict[str, str]) -> list[str]:
    """What tar writes: the folder it extracts into, the archive it creates."""
    short = "".join(a[1:] for a in args if re.fullmatch(r"-[a-zA-Z]+", a)) + (args[0] if args else "")
    found = []
    if "x" in short or "--extract" in args or "--get" in args:
        found.append(options.get("-C") or options.get("--directory") or ".")
    if "c" in short.replace("C", "") or "--create" in args:
        found += [v for a, v in zip(args, args[1:], strict=False) if re.fullmatch(r"-[a-zA-Z]*f|--file", a)]
    return found


def _outputs(name: str, options: dict[str, str]) -> list[str]:
    """What a command's options say it writes; for a download, the folder it saves into when they name
    no file (`curl -O URL`, `wget URL`: the current one)."""
    found = [v for k, v in options.items() if k in OUTPUTS[name].split() and v != "-"]
    if name == "curl" and {"-O", "--remote-name", "--remote-name-all"} & options.keys():
        found.append(options.get("--output-dir") or ".")
    named = {"-O", "--output-document", "-P", "--directory-prefix", "--spider", "-d", "--dir"}
    if name in ("wget", "aria2c") and not named & options.keys():
        found.append(".")
    return found


def _split(args: list[str], with_values: set[str]) -> tuple[list[str], dict[str, str]]:
    """A command's positional words, and its options with their values (`-o FILE`, `--out=FILE`,
    `-sSLo FILE`, `-oFILE`); an option without a value is there too, with an empty one."""
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg, after = args[i], args[i + 1] if i + 1 < len(args) else ""
        if arg.startswith("--") and "=" in arg:
            key, _, value = arg.partition("=")
            options[key] = value
        elif arg in with_values:
            options[arg] = after
            i += 1
        elif arg.startswith("--"):
            options[arg] = ""
        elif not arg.startswith("-") or arg == "-":
            positional.append(arg)
        else:  # short options together: each letter, to the first taking a value (the rest, or the next word)
            for j, letter in enumerate(arg[1:], 2):
                options[f"-{letter}"] = ""
                if f"-{letter}" in with_values:
                    options[f"-{letter}"] = arg[j:] or after
                    i += 0 if arg[j:] else 1
                    break
        i += 1
    return positional, options
