"""Model directories: plain JSON and ``.npz`` files, loaded without pickle.

A model directory holds::

    config.json    the Config the network was built from
    vocab.json     word, character and tag vocabularies
    meta.json      format version, nertag version, tag schemes, scores
    weights.npz    the parameters, one array per named parameter (the best epoch's)
    checkpoint.npz training state of the last finished step (parameters, optimiser, RNGs), for --resume
    metrics.jsonl  one line of scores per epoch

Loading never executes anything from the files: ``json`` for the JSON files, and for ``.npz`` archives
:func:`read_npz`, which reads each array's header first and refuses anything that would need pickle.
"""
from __future__ import annotations

import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import __version__
from .config import Config
from .errors import ModelError, NertagError
from .files import write_json, write_npz

FORMAT = "nertag-model"
FORMAT_VERSION = 1


def read_json(path: Path, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing {what}; is {path.parent} a nertag model directory?") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: damaged {what}, not valid JSON ({e})") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read {what}: {e.strerror}") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: damaged {what}, expected a JSON object")
    return value


_SAFE_KINDS = "biufU"  # bool, integers, floats, unicode text: nothing that needs pickle to rebuild


def read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz``, refusing pickled objects and damaged archives.

    The archive is read entry by entry with :mod:`zipfile`; each ``.npy`` header is parsed (numpy parses
    it as a Python literal, never executing it) and checked before any data is read: the dtype must be
    boolean, numeric or text, and the shape must fit in the bytes the entry holds. Nothing in the file
    is ever unpickled or executed.
    """
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):
            if not path.exists():
                raise FileNotFoundError
            if path.is_dir():
                raise ModelError(f"{path}: is a directory, expected the {what} file")
            raise ModelError(f"{path}: damaged {what}: not an .npz archive (truncated, or another kind of file)")
        arrays = {}
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if not info.filename.endswith(".npy"):
                    raise ModelError(f"{path}: damaged {what}: unexpected entry {info.filename!r} "
                                     f"(expected .npy arrays)")
                with archive.open(info) as entry:
                    arrays[info.filename[:-len(".npy")]] = _read_npy(entry, info, path, what)
        return arrays
    except FileNotFoundError:
        raise ModelError(f"{path}: missing {what}") from None
    except ModelError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, TypeError,
            SyntaxError, NotImplementedError, RuntimeError, zlib.error, MemoryError) as e:
        raise ModelError(f"{path}: damaged or truncated {what} ({type(e).__name__}: {e})") from None


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


def check_model_dir(model_dir: Path) -> Path:
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelError(f"{model_dir}: no such model directory")
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: not a directory; a model is a directory with config.json and weights.npz")
    return model_dir


def read_meta(model_dir: Path) -> dict:
    path = model_dir / "meta.json"
    meta = read_json(path, "model metadata")
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a nertag model (expected format {FORMAT!r}, found {meta.get('format')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"{path}: damaged model metadata: expected a format_version number, found {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(f"{path}: model format version {version} (written by nertag "
                         f"{meta.get('nertag_version', '?')}) is newer than this nertag {__version__} reads "
                         f"({FORMAT_VERSION}); upgrade nertag")
    scheme = meta.get("input_scheme")
    if scheme is not None and scheme not in ("IOB1", "IOB2", "BIOES"):
        raise ModelError(f"{path}: damaged model metadata: input_scheme must be IOB1, IOB2 or BIOES, "
                         f"found {scheme!r}")
    return meta


def read_config(model_dir: Path, meta: dict | None = None) -> Config:
    """The model's Config; unknown keys or bad values are a ModelError naming ``config.json``."""
    path = model_dir / "config.json"
    values = read_json(path, "model configuration")
    try:
        return Config.from_dict(values, source=str(path))
    except NertagError as e:
        message = str(e) if str(e).startswith(str(path)) else f"{path}: {e}"
        if "unknown configuration keys" in message:
            written = (meta or {}).get("nertag_version")
            message += (f" (written by nertag {written}; this is nertag {__version__}: upgrade nertag)"
                        if written and written != __version__ else
                        f" (this nertag {__version__} does not know them; was the model made by a newer one?)")
        raise ModelError(message) from None
    except TypeError as e:
        raise ModelError(f"{path}: bad configuration ({e})") from None


def write_model_files(model_dir: Path, config: Config, vocab: dict, meta: dict) -> None:
    """The files fixed for a whole training run: configuration, vocabularies, metadata."""
    model_dir.mkdir(parents=True, exist_ok=True)
    write_json(model_dir / "config.json", config.to_dict())
    write_json(model_dir / "vocab.json", vocab)
    write_meta(model_dir, meta)


def write_meta(model_dir: Path, meta: dict) -> None:
    write_json(model_dir / "meta.json", {"format": FORMAT, "format_version": FORMAT_VERSION,
                                         "nertag_version": __version__, **meta})


def save_weights(path: Path, named: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None = None) -> None:
    write_npz(path, {**{f"param/{k}": v for k, v in named.items()}, **(extra or {})})


def load_weights(path: Path, named: dict[str, np.ndarray], what: str = "model weights") -> dict[str, np.ndarray]:
    """Copy the saved parameters into the views ``named``; return the file's other arrays."""
    arrays = read_npz(path, what)
    saved = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    missing, unexpected = sorted(set(named) - set(saved)), sorted(set(saved) - set(named))
    if missing or unexpected:
        raise ModelError(f"{path}: {what} do not match the configuration: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    for name, view in named.items():
        array = saved[name]
        if array.shape != view.shape:
            raise ModelError(f"{path}: parameter {name} has shape {array.shape}, the configuration "
                             f"expects {view.shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ModelError(f"{path}: parameter {name} has dtype {array.dtype}, expected floating point")
        if not np.all(np.isfinite(array)):
            raise ModelError(f"{path}: parameter {name} holds NaN or infinite values")
        view[...] = array
    return {k: v for k, v in arrays.items() if not k.startswith("param/")}
