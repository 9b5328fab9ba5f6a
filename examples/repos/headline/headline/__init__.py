"""Format news headlines: tidy spacing, title case, a length limit."""

import sys

import textkit


def format_headline(raw: str, limit: int = 60) -> str:
    text = textkit.title_case(textkit.collapse_spaces(raw))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def main() -> None:
    for line in sys.stdin:
        print(format_headline(line))
