"""Numbered, decoded lines of a text file: the one place that deals with bytes, BOMs, line ends and gzip.

Input is read once, front to back, and nothing is peeked at: gzip is recognised from the first two bytes
read, which are then handed on, so that a pipe, ``/dev/stdin`` or a process substitution gives exactly
what the same bytes in a regular file give. Lines end in ``\\n``, ``\\r\\n`` or, in a file whose first line
ends so, a lone ``\\r`` (old Mac files). A line longer than `MAX_LINE` bytes is an error, so that
``/dev/zero`` or a file without line ends cannot take all memory. A named FIFO that no writer opens within
``NERTAG_FIFO_TIMEOUT`` seconds (default 10) is an error, not a hang.
"""
from __future__ import annotations

import gzip
import io
import os
import stat
import time
from collections.abc import Callable, Iterator
from typing import IO, Union

from nertag.errors import DataError

Source = Union[str, os.PathLike, IO[str], IO[bytes]]

_GZIP_MAGIC = b"\x1f\x8b"
BLOCK = 1 << 16
MAX_LINE = 8 << 20  # bytes in one line: far more than any sentence or vector line
FIFO_TIMEOUT = 10.0  # seconds to wait for a writer to open a named FIFO (NERTAG_FIFO_TIMEOUT overrides)


def source_name(source: Source) -> str:
    """The name to put in error messages: the path, or the stream's ``name``, or ``<stream>``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


class SplitLines:
    """An iterable of byte lines already split by `byte_lines` (each ends in ``\\n`` or ``\\r\\n``, but the last)."""


class _Prefixed:
    """A readable byte stream: ``head``, then what ``read`` gives (for gzip, after its magic was read)."""

    def __init__(self, head: bytes, read: Callable[[int], bytes], name: str):
        self.head, self._read, self.name, self.mode = head, read, name, "rb"

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data, self.head = (self.head, b"") if size < 0 or size >= len(self.head) else \
                (self.head[:size], self.head[size:])
            return data
        if size < 0:
            return b"".join(iter(lambda: self._read(BLOCK), b""))
        return self._read(size)


def readable(stream: IO[bytes] | Callable[[int], bytes], name: str) -> Callable[[int], bytes]:
    """A ``read(n)`` of the decompressed bytes of ``stream`` (gzip recognised by its first two bytes, read once)."""
    read = stream if callable(stream) else stream.read
    head = b""
    while len(head) < 2 and (data := read(2 - len(head))):
        head += data
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=_Prefixed(head, read, name), mode="rb").read
    return _Prefixed(head, read, name).read


def byte_lines(read: Callable[[int], bytes], name: str, limit: int = MAX_LINE) -> Iterator[bytes]:
    """The lines of the bytes ``read`` gives, each with its line end; a lone-CR file's lines end in ``\\n``.

    Raises
    ------
    DataError
        If a line is longer than ``limit`` bytes (naming its number), or the stream cannot be read.
    """
    rest, sep, number = b"", None, 0
    try:
        while data := read(BLOCK):
            rest += data
            if sep is None:
                sep = _line_end(rest)
                if sep is None:
                    _check_length(rest, limit, name, number + 1)
                    continue
            lines = rest.split(sep)
            rest = lines.pop()
            number += len(lines)
            yield from (line + b"\n" for line in lines)
            _check_length(rest, limit, name, number + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as error:  # e.g. a truncated or corrupt gzip file
        raise DataError(f"cannot read the file after line {number}: {error}", name) from None
    if rest:
        yield rest[:-1] + b"\n" if sep is None and rest[-1:] == b"\r" else rest


def _line_end(data: bytes) -> bytes | None:
    """The line separator of a file starting with ``data``: ``\\n`` (for LF and CRLF) or ``\\r``; None if unknown yet."""
    lf, cr = data.find(b"\n"), data.find(b"\r")
    if cr < 0 or (0 <= lf < cr):
        return b"\n" if lf >= 0 else None
    if cr + 1 == len(data):
        return None  # a CR at the end of what came: CRLF or lone CR, the next byte tells
    return b"\n" if data[cr + 1:cr + 2] == b"\n" else b"\r"


def _check_length(rest: bytes, limit: int, name: str, number: int) -> None:
    if len(rest) > limit:
        raise DataError(f"expected lines of text, found a line longer than {limit >> 20} MiB (no line ends: "
                        f"not a text file?)", name, number)


def open_binary(path: str | os.PathLike) -> IO[bytes]:
    """Open ``path`` to read bytes; a named FIFO waits for a writer at most ``NERTAG_FIFO_TIMEOUT`` seconds.

    Raises
    ------
    DataError
        If the file cannot be opened, is a directory, or is a FIFO no writer opened in time.
    """
    name = os.fspath(path)
    try:
        named_fifo = stat.S_ISFIFO(os.lstat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) * named_fifo | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise DataError(f"cannot read the file: {error.strerror}", name) from None
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise DataError("is a directory, expected a file", name)
        head = _wait_for_writer(fd, name) if named_fifo else b""
    except BaseException:
        os.close(fd)
        raise
    raw = os.fdopen(fd, "rb")
    return _Opened(raw, head) if head else raw


class _Opened(io.BufferedIOBase):
    """An open file whose first bytes were already read (waiting for a FIFO's writer)."""

    def __init__(self, raw: IO[bytes], head: bytes):
        super().__init__()
        self.raw_file, self.name, self._head = raw, raw.name, _Prefixed(head, raw.read, raw.name)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._head.read(-1 if size is None else size)

    def close(self) -> None:
        self.raw_file.close()
        super().close()


def _wait_for_writer(fd: int, name: str) -> bytes:
    """Wait until a writer has opened the FIFO ``fd`` (opened non-blocking); return the bytes that came first."""
    timeout = float(os.environ.get("NERTAG_FIFO_TIMEOUT", FIFO_TIMEOUT))
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = os.read(fd, BLOCK)  # b"": no writer yet (or it came and left without a byte)
        except BlockingIOError:  # a writer holds it open, nothing written yet
            data = b""
            break
        if data or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if not data and time.monotonic() > deadline:
        raise DataError(f"a FIFO that no process wrote to within {timeout:g} s (NERTAG_FIFO_TIMEOUT)", name)
    os.set_blocking(fd, True)
    return data


def iter_lines(source: Source) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of `source`, numbered from 1.

    Parameters
    ----------
    source : str, os.PathLike or file object
        A path (plain or gzip-compressed, recognised by its magic bytes) or an open file, binary or text.

    Yields
    ------
    tuple of (int, str)
        The 1-based line number and the line without its line end (``\\n``, ``\\r\\n`` or a lone ``\\r``).
        A UTF-8 byte-order mark at the start of the file is dropped.

    Raises
    ------
    DataError
        If the file cannot be opened, a line is not valid UTF-8 (naming the line and byte) or too long.
    """
    name = source_name(source)
    if isinstance(source, (str, os.PathLike)):
        with open_binary(source) as raw:
            yield from _binary_lines(byte_lines(readable(raw, name), name), name)
    elif isinstance(source, io.TextIOBase):
        yield from _text_lines(source, name)
    elif isinstance(source, SplitLines):
        yield from _binary_lines(source, name)
    else:
        yield from _binary_lines(byte_lines(readable(source, name), name), name)


def _binary_lines(lines: Iterator[bytes], name: str) -> Iterator[tuple[int, str]]:
    # Decoding line by line (not the whole file) keeps memory flat and lets a bad byte be located exactly.
    for number, data in enumerate(lines, 1):
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


def _text_lines(stream: IO[str], name: str) -> Iterator[tuple[int, str]]:
    number = 0
    try:
        for number, text in enumerate(stream, 1):
            _check_length(text, MAX_LINE, name, number)
            text = text.rstrip("\r\n")
            if number == 1 and text[:1] == "\ufeff":
                text = text[1:]
            yield number, text
    except UnicodeDecodeError as error:
        # A text stream decodes in chunks, so the line is only known approximately.
        byte = error.object[error.start]
        raise DataError(f"expected UTF-8 text, found byte 0x{byte:02x}", name, number + 1) from None
