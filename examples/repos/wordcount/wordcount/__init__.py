"""Count words in text, the way our editors count them."""

import sys
from collections import Counter

from textkit import collapse_spaces


def count_words(text: str) -> int:
    tidy = collapse_spaces(text)
    return len(tidy.split(" ")) if tidy else 0


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    return Counter(collapse_spaces(text).lower().split(" ")).most_common(n)


def main() -> None:
    print(count_words(sys.stdin.read()))
