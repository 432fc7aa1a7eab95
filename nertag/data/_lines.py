"""Numbered, decoded lines of a text file: the one place that deals with bytes, BOMs, CRLF and gzip."""
from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from typing import IO, Union

from nertag.errors import DataError

Source = Union[str, os.PathLike, IO[str], IO[bytes]]

_GZIP_MAGIC = b"\x1f\x8b"


def source_name(source: Source) -> str:
    """The name to put in error messages: the path, or the stream's ``name``, or ``<stream>``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


def iter_lines(source: Source) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of `source`, numbered from 1.

    Parameters
    ----------
    source : str, os.PathLike or file object
        A path (plain or gzip-compressed, recognised by its magic bytes) or an open file, binary or text.

    Yields
    ------
    tuple of (int, str)
        The 1-based line number and the line without its line end (``\\n`` or ``\\r\\n``).
        A UTF-8 byte-order mark at the start of the file is dropped.

    Raises
    ------
    DataError
        If the file cannot be opened or a line is not valid UTF-8 (naming the line and byte).
    """
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            raw = open(source, "rb")
        except OSError as error:
            raise DataError(f"cannot read the file: {error.strerror}", name) from None
        with raw:
            stream = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == _GZIP_MAGIC else raw
            yield from _binary_lines(stream, name)
    elif isinstance(source, io.TextIOBase):
        yield from _text_lines(source, name)
    else:
        yield from _binary_lines(source, name)


def _binary_lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    # Decoding line by line (not the whole file) keeps memory flat and lets a bad byte be located exactly.
    number = 0
    try:
        for number, data in enumerate(stream, 1):
            if data[-1:] == b"\n":
                data = data[:-2] if data[-2:-1] == b"\r" else data[:-1]
            if number == 1 and data[:3] == b"\xef\xbb\xbf":
                data = data[3:]
            try:
                yield number, data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"expected UTF-8 text, found byte 0x{data[error.start]:02x} at byte {error.start + 1} "
                    "of the line (convert the file to UTF-8, e.g. with iconv)",
                    name,
                    number,
                ) from None
    except (OSError, EOFError) as error:  # e.g. a truncated or corrupt gzip file
        raise DataError(f"cannot read the file after line {number}: {error}", name) from None


def _text_lines(stream: IO[str], name: str) -> Iterator[tuple[int, str]]:
    number = 0
    try:
        for number, text in enumerate(stream, 1):
            text = text.rstrip("\r\n")
            if number == 1 and text[:1] == "\ufeff":
                text = text[1:]
            yield number, text
    except UnicodeDecodeError as error:
        # A text stream decodes in chunks, so the line is only known approximately.
        byte = error.object[error.start]
        raise DataError(f"expected UTF-8 text, found byte 0x{byte:02x}", name, number + 1) from None
