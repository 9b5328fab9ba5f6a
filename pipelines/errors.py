"""Errors for people: the file, the key, the line, and what was expected."""

from __future__ import annotations


class InputError(Exception):
    """Bad input in a file the user writes; refused before any work starts."""

    def __init__(self, file: str, key: str, message: str, line: int | None = None) -> None:
        self.file, self.key, self.line = file, key, line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class StepError(Exception):
    """A step that could not finish; its message is the one line the user reads."""
