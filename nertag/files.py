"""Files written atomically and read safely.

Writes never leave a half-written file: temp file in the same directory, fsync, rename. ``.npz``
archives are written byte for byte reproducibly (fixed entry times, entries in the order given, no
pickle), so the same parameters always give the same file, and read by :func:`read_npz`, which
refuses anything that would need pickle.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import QUOTE, ModelError, NertagError, excerpt, shorten

TMP_SUFFIX = ".tmp"
JSON_LIMIT = 256 << 20  # bytes of one JSON file of a model (vocab.json of a 2M-word vocabulary is ~60 MB)
MAX_DIGITS = 40         # of a whole number in a model's JSON: a 128-bit generator state has 39
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry; numpy >= 2 uses it too


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, created with mode 0666 so that the umask applies (mkstemp uses 0600)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{os.urandom(4).hex()}{TMP_SUFFIX}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: cannot create a temporary file for {path.name}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), not the
    owner-only 0600 of a temporary file. On any exception the temporary file is removed and ``path``
    is left as it was.
    """
    path = Path(path)
    fd, tmp = _create_temporary(path)
    try:
        with _naming(path), os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _naming(path: str | os.PathLike):
    """An OSError of a write without a file name (ENOSPC, EIO) gets ``path``, so that the message names it."""
    try:
        yield
    except OSError as e:
        if e.filename is not None or isinstance(e, BrokenPipeError):
            raise
        raise OSError(e.errno, e.strerror or str(e), os.fspath(path)) from None


@contextlib.contextmanager
def output_file(path: str | os.PathLike, encoding: str = "utf-8"):
    """A text file to write ``path`` with: atomically (`atomic_open`) for a regular file or a new one; in place
    for what is not a regular file (``/dev/null``, a FIFO, a terminal), which a rename would replace. A
    symbolic link is followed: its target is written, the link stays."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        with _naming(path), open(path, "w", encoding=encoding, newline="\n") as f:
            yield f
        return
    with atomic_open(path, "w", encoding=encoding) as f:
        yield f


class _StandardOutput:
    """Standard output whose write errors name it, and leave nothing for the exit to fail on again."""

    name = "<stdout>"

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        with self._named():
            return self.stream.write(text)

    def flush(self) -> None:
        with self._named():
            self.stream.flush()

    @contextlib.contextmanager
    def _named(self):
        try:
            yield
        except OSError as e:
            # Python flushes stdout once more at exit, which would fail again and print a traceback: point
            # the descriptor at /dev/null so that it succeeds (as the Python docs advise for SIGPIPE).
            with contextlib.suppress(OSError, AttributeError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            if isinstance(e, BrokenPipeError) or e.filename is not None:
                raise
            raise OSError(e.errno, e.strerror or str(e), self.name) from None


def standard_output():
    """``sys.stdout`` for output, its write errors naming it; a NertagError when it is closed (``>&-``)."""
    import sys

    if sys.stdout is None:
        raise NertagError("<stdout>: standard output is closed; give --output FILE, or redirect it")
    return _StandardOutput(sys.stdout)


def stale_temporary_files(directory: str | os.PathLike) -> list[Path]:
    """Temporary files `atomic_open` left in ``directory`` when its process was killed mid-write."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)
                  and p.is_file())


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def open_regular(path: str | os.PathLike, what: str):
    """Open ``path`` to read bytes if it is a regular file; a ModelError naming what it is otherwise.

    The file is opened without blocking, so that a FIFO without a writer is refused at once instead of
    hanging; ``FileNotFoundError`` and other ``OSError`` pass through for the caller to word.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise ModelError(f"{path}: is {kind}, expected the {what} in a regular file")
        if hasattr(os, "O_NONBLOCK"):  # (Windows opens no file without blocking, and before 3.12 lacks set_blocking)
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Refused(ValueError):
    """A value valid in Python's reading of JSON that a model's JSON may not hold."""


def _whole_number(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"a whole number of {len(text.lstrip('-')):,} digits (at most {MAX_DIGITS})")
    return int(text)


def _finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: JSON allows it, float() makes it infinite
        raise _Refused(f"the number {shorten(text, 20)} is too large to be finite")
    return value


def _no_constant(name: str):
    # Python's json reads NaN, Infinity and -Infinity, which are not JSON and no value nertag writes.
    raise _Refused(f"found {name}, which is not a JSON number (numbers must be finite)")


def parse_json(text: str | bytes, where: str, what: str):
    """The value of the JSON ``text`` of ``what`` in ``where``, bounded in depth and in the size of numbers.

    Raises
    ------
    ModelError
        For invalid JSON, nesting deeper than Python recurses, a whole number over `MAX_DIGITS` digits, or a
        number that is not finite (``NaN``, ``Infinity``, ``-Infinity``, ``1e400``).
    """
    try:
        return json.loads(text, parse_int=_whole_number, parse_float=_finite_number, parse_constant=_no_constant)
    except RecursionError:
        raise ModelError(f"{where}: damaged {what}: JSON nested too deeply") from None
    except _Refused as e:
        raise ModelError(f"{where}: damaged {what}: {e}") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise ModelError(f"{where}: damaged {what}, not valid JSON ({shorten(str(e), 2 * QUOTE)})") from None


def read_json_file(path: str | os.PathLike, what: str, limit: int = JSON_LIMIT):
    """The JSON value in the regular file ``path`` of at most ``limit`` bytes (see `parse_json`).

    ``FileNotFoundError`` and other ``OSError`` pass through for the caller to word.
    """
    with open_regular(path, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ModelError(f"{path}: {what} larger than {limit >> 20} MiB, more than nertag ever writes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"{path}: damaged {what}, not UTF-8 text (byte 0x{data[e.start]:02x} at {e.start})") \
            from None
    return parse_json(text, str(path), what)


def write_json(path, obj) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    """Save arrays as an uncompressed ``.npz`` (fast to load), without pickle, atomically and reproducibly.

    Each array becomes the entry ``<name>.npy`` in the given order, with a fixed time stamp, so equal
    arrays give equal bytes whatever the clock or the numpy version. ``np.load`` reads the result.
    """
    with atomic_open(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)


_SAFE_KINDS = "biufU"  # bool, integers, floats, unicode text: nothing that needs pickle to rebuild


def read_npz(path: Path, what: str, limit: int | None = None) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz``, refusing pickled objects and damaged archives.

    The archive is read entry by entry with :mod:`zipfile`; each ``.npy`` header is parsed (numpy parses
    it as a Python literal, never executing it) and checked before any data is read: the dtype must be
    boolean, numeric or text, and the shape must fit in the bytes the entry holds. Nothing in the file
    is ever unpickled or executed. Only a regular file is read (a FIFO or a device is refused), and with
    ``limit`` the entries together may not unpack to more bytes than that (a zip bomb is refused unread).
    """
    path = Path(path)
    try:
        with open_regular(path, what) as raw:
            if not zipfile.is_zipfile(raw):
                raise ModelError(f"{path}: damaged {what}: not an .npz archive (truncated, or another kind of file)")
            return _read_archive(raw, path, what, limit)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing {what}") from None
    except ModelError:
        raise
    except PermissionError as e:
        raise ModelError(f"{path}: cannot read the {what}: {e.strerror}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, TypeError,
            SyntaxError, NotImplementedError, RuntimeError, zlib.error, MemoryError) as e:
        raise ModelError(f"{path}: damaged or truncated {what} ({type(e).__name__}: {shorten(str(e))})") \
            from None


def _read_archive(raw, path: Path, what: str, limit: int | None) -> dict[str, np.ndarray]:
    arrays = {}
    with zipfile.ZipFile(raw) as archive:
        infos = archive.infolist()
        unpacked = sum(info.file_size for info in infos)
        if limit is not None and unpacked > limit:
            raise ModelError(f"{path}: {what} unpacks to {unpacked:,} bytes, more than the {limit:,} its "
                             f"configuration needs (a zip bomb, or arrays that are not the model's)")
        for info in infos:
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy"):
                raise ModelError(f"{path}: damaged {what}: unexpected entry {excerpt(info.filename)} "
                                 f"(expected .npy arrays)")
            with archive.open(info) as entry:
                arrays[info.filename[:-len(".npy")]] = _read_npy(entry, info, path, what)
    return arrays


def _read_npy(entry, info: zipfile.ZipInfo, path: Path, what: str) -> np.ndarray:
    name = info.filename[:-len(".npy")]
    version = np.lib.format.read_magic(entry)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(entry)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(entry)
    else:
        raise ModelError(f"{path}: {what}: array {name} has .npy format version {version}, expected 1.0 or 2.0")
    if dtype.hasobject:
        raise ModelError(f"{path}: {what} holds pickled Python objects (array {name}), which nertag never "
                         f"loads; a model saved by nertag has only numeric arrays")
    if dtype.kind not in _SAFE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ModelError(f"{path}: {what}: array {name} has dtype {dtype}, expected numbers or text")
    count = math.prod(shape)
    size = count * dtype.itemsize
    if size > info.file_size:
        raise ModelError(f"{path}: damaged {what}: array {name} of shape {shape} needs {size} bytes, "
                         f"the archive holds {info.file_size}")
    flat = np.empty(count, dtype=dtype)
    raw, done = flat.view(np.uint8), 0
    while done < size:
        n = entry.readinto(raw[done:])
        if not n:
            raise ModelError(f"{path}: truncated {what}: array {name} ends after {done} of {size} bytes")
        done += n
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
