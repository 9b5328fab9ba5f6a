"""Rename an identifier in every Python file under the current directory.

    python3 rename.py OLD NEW

A codemod for shipyard's `command` agent: it runs in the repo's worktree and edits files in place;
shipyard turns the edits into a patch.
"""

import re
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    old, new = argv
    pattern = re.compile(rf"\b{re.escape(old)}\b")
    for path in sorted(Path(".").rglob("*.py")):
        text = path.read_text()
        changed = pattern.sub(new, text)
        if changed != text:
            path.write_text(changed)
            print(f"renamed {old} to {new} in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
