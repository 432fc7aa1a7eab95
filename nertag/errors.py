"""Errors meant for people: each says what was expected and what came instead."""
from __future__ import annotations

import os


class NertagError(ValueError):
    """Bad input a user can fix. The CLI prints ``str(error)`` on one line and exits with code 2."""


class DataError(NertagError):
    """Malformed data, located by file and (1-based) line number when known."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.message, self.path, self.line = message, path, line
        where = "" if path is None else f"{os.fspath(path)}:" + ("" if line is None else f"{line}:")
        super().__init__(f"{where} {message}" if where else message)


class ModelError(NertagError):
    """A model directory that is missing, damaged, foreign or from an incompatible version."""


QUOTE = 80  # characters of bad input an error message quotes at most


def shorten(text: str, limit: int = QUOTE) -> str:
    """``text`` cut to ``limit`` characters for an error message, saying how long it was when cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def excerpt(text: str, limit: int = QUOTE) -> str:
    """``text`` quoted (as a literal) for an error message, cut to ``limit`` characters."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"
