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
