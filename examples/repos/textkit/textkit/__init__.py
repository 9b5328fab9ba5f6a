"""Small text helpers shared by our command-line programs."""

import re

__all__ = ["collapse_spaces", "title_case"]

_SMALL_WORDS = {"a", "an", "and", "at", "for", "in", "of", "on", "or", "the", "to"}


def collapse_spaces(text: str) -> str:
    """Replace every run of whitespace with one space and trim both ends."""
    return re.sub(r"\s+", " ", text).strip()


def title_case(text: str) -> str:
    """Capitalise each word except short joining words, which stay lower case mid-title."""
    words = text.lower().split(" ")
    return " ".join(
        w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(words)
    )
