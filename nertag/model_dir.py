"""Model directories: the files of a trained model and of the run that trains it, in one place.

A model directory holds::

    config.json    the Config the network was built from
    vocab.json     word, character and tag vocabularies
    meta.json      format version, nertag version, tag schemes, scores
    weights.npz    the parameters, one array per named parameter (the best epoch's)
    checkpoint.npz training state of the last finished step (parameters, optimiser, RNGs), for --resume
    metrics.jsonl  one line of scores per epoch

:class:`ModelDir` is the only code that knows these names. It checks a directory before use (for
loading, for a new run, for resuming one), validates what it reads, and writes every file atomically.
Loading never executes anything from the files: ``json`` for the JSON files, and
:func:`nertag.files.read_npz` for the ``.npz`` archives, which refuses anything that would need pickle.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: msvcrt's byte-range lock instead
    fcntl = None
try:
    import msvcrt
except ImportError:
    msvcrt = None

from . import __version__
from .config import Config
from .data.schemes import tag_error
from .data.vocab import Vocab
from .errors import ModelError, NertagError
from .files import atomic_open, read_json_file, read_npz, stale_temporary_files, write_json, write_npz

if TYPE_CHECKING:
    from .tagger import Tagger

FORMAT = "nertag-model"
FORMAT_VERSION = 1
REQUIRES = ">=0.1"  # the nertag versions that read format 1 (recorded in every meta.json)
BUNDLED_MODELS = Path(__file__).resolve().parent / "models"
VOCAB_SUM = "vocab_sha256"  # meta.json's key for the checksum of vocab.json's content
LOCK_NAME = ".nertag.lock"  # held (flock) by the run writing a directory; holds its process id


def read_json(path: Path, what: str) -> dict:
    """The JSON object in ``path``; a ModelError saying what is wrong with the file otherwise.

    Only a regular file is read (a FIFO or device is refused at once), of at most `JSON_LIMIT` bytes, with
    bounded nesting and numbers (see :func:`nertag.files.parse_json`).
    """
    try:
        value = read_json_file(path, what)
    except FileNotFoundError:
        raise ModelError(f"{path}: missing {what}; is {path.parent} a nertag model directory?") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, expected the {what} in a regular file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read {what}: {e.strerror}") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: damaged {what}, expected a JSON object")
    return value


def save_weights(path: Path, named: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None = None) -> None:
    """Write the parameters ``named`` (as ``param/<name>``) and the arrays ``extra`` to ``path``."""
    write_npz(path, {**{f"param/{k}": v for k, v in named.items()}, **(extra or {})})


MAX_WEIGHT = 1e6  # larger magnitudes are no trained model's: they overflow in the network's exponentials
SLACK = 64 << 20  # bytes an .npz may hold beyond its arrays' (zip headers, the training state's JSON)


def load_weights(path: Path, named: dict[str, np.ndarray], what: str = "model weights",
                 copies: int = 1) -> dict[str, np.ndarray]:
    """Copy the saved parameters into the views ``named``; return the file's other arrays.

    The archive may unpack to at most ``copies`` times the parameters' size (a checkpoint holds the
    optimiser's and the average's copies too), in float64, plus `SLACK`: anything more is refused unread.
    """
    limit = copies * 8 * sum(view.size for view in named.values()) + SLACK
    arrays = read_npz(path, what, limit)
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
        if array.size and (largest := float(np.abs(array).max())) > MAX_WEIGHT:
            raise ModelError(f"{path}: parameter {name} holds a value of magnitude {largest:.3g}, beyond the "
                             f"{MAX_WEIGHT:g} of any trained model (damaged weights?)")
        view[...] = array
    return {k: v for k, v in arrays.items() if not k.startswith("param/")}


def parameter_floor(config: Config, n_words: int) -> int:
    """A lower bound on the parameters of the network ``config`` describes, over ``n_words`` words.

    The word embedding (V x D) and the sentence BiGRU's input and recurrent weights (2 directions of
    D x 3H and H x 3H); the character layers, dense layer, biases and CRF only add to it.
    """
    return n_words * config.word_dim + 2 * 3 * config.hidden * (config.word_dim + config.hidden)


@dataclass(frozen=True)
class Description:
    """What a model directory says about its network, weights aside: enough to build it.

    Attributes
    ----------
    config : Config
    words, chars, tags : Vocab
        ``tags`` holds the tags of ``config.scheme`` the CRF predicts.
    meta : dict
        ``input_scheme`` (the training data's scheme, used for output), ``types``, ``scores`` and so on.
    """

    config: Config
    words: Vocab
    chars: Vocab
    tags: Vocab
    meta: dict


@dataclass(frozen=True)
class ModelDir:
    """A model directory: its file names, the checks before using it, its readers and writers.

    Construct one with :meth:`existing` (to load a model), :meth:`for_new_run` or :meth:`resumable`,
    which check the directory once; the plain constructor checks nothing.
    """

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    # -- the files ---------------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def vocab_file(self) -> Path:
        return self.path / "vocab.json"

    @property
    def meta_file(self) -> Path:
        return self.path / "meta.json"

    @property
    def weights_file(self) -> Path:
        return self.path / "weights.npz"

    @property
    def checkpoint_file(self) -> Path:
        return self.path / "checkpoint.npz"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_NAME

    # -- the lock of a run writing the directory ------------------------------------------------------------
    def holder(self) -> int | None:
        """The process id of the live run writing this directory (holding its lock), or None.

        The lock is an ``flock`` on `lock_file` (on Windows a ``msvcrt`` lock), so it dies with its process:
        the file of a killed run is a stale lock, which the next run takes over.
        """
        if not LOCKING:
            return None
        try:
            fd = os.open(self.lock_file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return None
        try:
            if not _try_lock(fd):
                return _pid_in(fd) or -1
            _unlock(fd)
            return None
        finally:
            os.close(fd)

    def check_unlocked(self) -> None:
        """A NertagError naming the run that holds this directory, if one does."""
        holder = self.holder()
        if holder is not None:
            raise NertagError(_locked_message(self.path, holder))

    @contextlib.contextmanager
    def locked(self):
        """Hold the directory's lock while a run writes it (creating the directory if need be).

        A second writer gets a NertagError naming the holder's process id; the lock of a process that died
        is taken over. On exit the lock file is removed, and the directory too if the run left it empty.
        """
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        fd = self._acquire() if LOCKING else None
        try:
            yield self
        finally:
            if fd is not None:
                with contextlib.suppress(OSError):
                    self.lock_file.unlink()
                os.close(fd)
            if created:
                with contextlib.suppress(OSError):
                    self.path.rmdir()  # only if empty: a run that failed before writing anything

    def _acquire(self) -> int:
        for _ in range(100):
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                holder = _pid_in(fd) or -1
                os.close(fd)
                raise NertagError(_locked_message(self.path, holder))
            try:  # the holder may have removed the file between our open and our lock: then lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.lock_file).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)  # (msvcrt's lock moved it)
                    os.write(fd, f"{os.getpid()}\n".encode())
                except OSError as e:  # a full disk: no lock file left behind, and a message naming it
                    with contextlib.suppress(OSError):
                        self.lock_file.unlink()
                    os.close(fd)
                    raise OSError(e.errno, e.strerror, str(self.lock_file)) from None
                return fd
            os.close(fd)
        raise NertagError(f"{self.lock_file}: cannot take the lock of the model directory")

    # -- checks --------------------------------------------------------------------------------------------
    @classmethod
    def existing(cls, path: str | Path) -> ModelDir:
        """A directory that exists (a ModelError otherwise)."""
        model_dir = cls(path)
        if not model_dir.path.exists():
            raise ModelError(f"{model_dir.path}: no such model directory")
        if not model_dir.path.is_dir():
            raise ModelError(f"{model_dir.path}: not a directory; a model is a directory with config.json and "
                             f"weights.npz")
        return model_dir

    @property
    def curve_file(self) -> Path:
        return self.path / "training.svg"

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file a training run writes here (a picture of the run included)."""
        return (self.config_file, self.vocab_file, self.meta_file, self.weights_file, self.checkpoint_file,
                self.metrics_file, self.curve_file)

    @classmethod
    def for_new_run(cls, path: str | Path, overwrite: bool = False) -> ModelDir:
        """A directory a new training run may write: creatable, and holding none of the files it writes.

        With ``overwrite``, those files (and only those) are removed first; other files are left alone.
        """
        model_dir = cls(path)
        path = model_dir.path
        if path.exists() and not path.is_dir():
            raise NertagError(f"{path}: exists and is not a directory; choose another --model")
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise NertagError(f"{path}: cannot create the model directory, {parent} is a file")
                break
        model_dir.check_unlocked()  # before anything is removed: the files may be a running run's
        present = [file for file in model_dir.files if file.exists() or file.is_symlink()]
        if present and overwrite:
            for file in present:
                if file.is_dir():
                    raise NertagError(f"{file}: is a directory where the run writes a file; move it away")
                file.unlink()
        elif present:
            if model_dir.checkpoint_file in present:
                what = "a training run"
            elif model_dir.weights_file in present:
                what = "a model"
            elif not model_dir._marked_by_a_run():
                what = f"a file of its own ({present[0].name})"
            else:  # a run killed before its first checkpoint: nothing to resume, it starts again here
                return model_dir
            resume = f"--resume {path} continues it, " if what == "a training run" else ""
            raise NertagError(f"{path}: holds {what} already; {resume}--overwrite replaces the files a run "
                              f"writes, or choose another --model")
        return model_dir

    def _marked_by_a_run(self) -> bool:
        """Is meta.json a nertag run's (the file a run writes first)?"""
        try:
            return read_json(self.meta_file, "model metadata").get("format") == FORMAT
        except (NertagError, AttributeError):
            return False

    @classmethod
    def resumable(cls, path: str | Path) -> ModelDir:
        """An existing directory with a checkpoint to resume (a ModelError or NertagError saying why not)."""
        model_dir = cls.existing(path)
        model_dir.check_unlocked()
        if not model_dir.checkpoint_file.exists():
            raise NertagError(f"{model_dir.path}: no checkpoint.npz to resume from (the run stopped before its "
                              f"first checkpoint, or this is not a training run); start it again without --resume")
        return model_dir

    # -- reading -------------------------------------------------------------------------------------------
    def describe(self) -> Description:
        """Metadata, configuration and vocabularies, each file read and validated once."""
        meta = self._read_meta()
        config = self._read_config(meta)
        words, chars, tags = self._read_vocabs(config, meta)
        self._check_size(config, len(words))
        return Description(config, words, chars, tags, meta)

    def _check_size(self, config: Config, n_words: int) -> None:
        """Refuse, before anything is allocated, a configuration too large for the weights it came with."""
        itemsize = 8 if config.dtype == "float64" else 4
        needed = parameter_floor(config, n_words) * itemsize
        sizes = [file.stat().st_size for file in (self.weights_file, self.checkpoint_file) if file.is_file()]
        if needed > max(sizes, default=0) + SLACK:
            held = f"{max(sizes):,} bytes of weights" if sizes else "no weights"
            raise ModelError(f"{self.config_file}: a network of word_dim {config.word_dim} and hidden "
                             f"{config.hidden} over {n_words:,} words needs at least {needed:,} bytes of "
                             f"parameters, and the directory holds {held}: the configuration is not the model's")

    def _read_meta(self) -> dict:
        path = self.meta_file
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

    def _read_config(self, meta: dict) -> Config:
        """The model's Config; unknown keys or bad values are a ModelError naming ``config.json``."""
        path = self.config_file
        values = read_json(path, "model configuration")
        try:
            return Config.from_dict(values, source=str(path))
        except NertagError as e:
            message = str(e) if str(e).startswith(str(path)) else f"{path}: {e}"
            if "unknown configuration keys" in message:
                written = meta.get("nertag_version")
                message += (f" (written by nertag {written}; this is nertag {__version__}: upgrade nertag)"
                            if written and written != __version__ else
                            f" (this nertag {__version__} does not know them; was the model made by a newer one?)")
            raise ModelError(message) from None
        except TypeError as e:
            raise ModelError(f"{path}: bad configuration ({e})") from None

    def _check_vocab_sum(self, vocab: dict, meta: dict) -> None:
        """The vocabularies must be those the weights were saved with, if the metadata records their checksum."""
        expected = meta.get(VOCAB_SUM)
        if expected is None:
            return  # a model saved before checksums: loaded as before
        if not isinstance(expected, str):
            raise ModelError(f"{self.meta_file}: damaged model metadata: {VOCAB_SUM} must be a string, found "
                             f"{type(expected).__name__}")
        if vocab_checksum(vocab) != expected:
            raise ModelError(f"{self.vocab_file}: the vocabularies are not those the weights were saved with (their "
                             f"checksum differs from {VOCAB_SUM} in meta.json): edited, shifted or from another "
                             f"model")

    def _read_vocabs(self, config: Config, meta: dict | None = None) -> tuple[Vocab, Vocab, Vocab]:
        """Words, characters and tags; the tags must be tags of ``config.scheme``."""
        path = self.vocab_file
        vocab = read_json(path, "vocabularies")
        try:
            words, chars, tags = (Vocab.from_json(vocab[k]) for k in ("words", "chars", "tags"))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelError(f"{path}: damaged vocabularies ({type(e).__name__}: {e})") from None
        problem = None
        if not all(isinstance(t, str) for v in (words, chars, tags) for t in v.tokens):
            problem = "every token must be a string"
        elif tags.pad is not None or tags.unk is not None or len(tags) < 1:
            problem = "the tag vocabulary must list tags only, without padding or unknown symbols"
        elif None in (words.pad, words.unk, chars.pad, chars.unk):
            problem = "the word and character vocabularies need padding and unknown symbols"
        else:
            for tag in tags.tokens:
                problem = tag_error(tag, config.scheme)
                if problem:
                    problem = f"tags do not fit the configuration's scheme {config.scheme}: {problem}"
                    break
        if problem:
            raise ModelError(f"{path}: damaged vocabularies: {problem}")
        self._check_vocab_sum(vocab, meta or {})
        return words, chars, tags

    def load_weights(self, named: dict[str, np.ndarray]) -> None:
        """Copy the model's weights into the parameter views ``named``."""
        if not self.weights_file.exists() and self.checkpoint_file.exists():
            raise ModelError(f"{self.weights_file}: missing model weights: the training run in {self.path} has not "
                             f"finished an epoch yet; continue it with nertag train --resume {self.path}")
        load_weights(self.weights_file, named)

    def load_checkpoint(self, named: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy the checkpoint's parameters into ``named``; return its other arrays (training state)."""
        return load_weights(self.checkpoint_file, named, "checkpoint", copies=4)

    # -- writing -------------------------------------------------------------------------------------------
    def write_description(self, description: Description) -> None:
        """The files fixed for a whole training run: configuration, vocabularies, metadata."""
        self.path.mkdir(parents=True, exist_ok=True)
        vocab = {"words": description.words.to_json(), "chars": description.chars.to_json(),
                 "tags": description.tags.to_json()}
        # The vocabularies' checksum travels in the metadata (and so in every later write of it): a vocab.json
        # shifted, permuted or edited no longer matches the weights, and is refused (see `_check_vocab_sum`).
        description.meta[VOCAB_SUM] = vocab_checksum(vocab)
        self.write_meta(description.meta)  # first: it marks the directory as a run's (see for_new_run)
        self.write_config(description.config)
        write_json(self.vocab_file, vocab)

    def write_config(self, config: Config) -> None:
        write_json(self.config_file, config.to_dict())

    def write_meta(self, meta: dict) -> None:
        write_json(self.meta_file, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                    "nertag_version": __version__, "requires_nertag": REQUIRES, **meta})

    def save_weights(self, named: dict[str, np.ndarray]) -> None:
        save_weights(self.weights_file, named)

    def save_checkpoint(self, named: dict[str, np.ndarray], extra: dict[str, np.ndarray]) -> None:
        save_weights(self.checkpoint_file, named, extra)

    def write_metrics(self, rows: list[dict]) -> None:
        with atomic_open(self.metrics_file) as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")

    def remove_stale_temporaries(self) -> None:
        """Delete the temporary files of writes that were killed."""
        for stale in stale_temporary_files(self.path):
            stale.unlink(missing_ok=True)

    def save(self, tagger: Tagger) -> None:
        """Write ``tagger`` as a complete model: its description and its current weights."""
        self.write_description(tagger.description)
        self.save_weights(tagger.buffer.named())


def vocab_checksum(vocab: dict) -> str:
    """SHA-256 of the vocabularies as vocab.json holds them, in a canonical JSON form (sorted keys)."""
    text = json.dumps(vocab, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Without either module (no known system) directories are not locked; the checks of a new run's files still apply.
LOCKING = fcntl is not None or msvcrt is not None
_MSVCRT_BYTE = 1 << 20  # msvcrt locks a byte range, and a locked byte cannot be read: one far beyond the pid


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock of the open file ``fd`` without waiting; False when another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _MSVCRT_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, _MSVCRT_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _pid_in(fd: int) -> int | None:
    """The process id written in the lock file ``fd``, if it holds one."""
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)  # (no os.pread on Windows)
        text = os.read(fd, 32).decode("ascii").strip()
        return int(text) if text.isdigit() else None
    return None


def _locked_message(path: Path, holder: int) -> str:
    who = f"process {holder}" if holder > 0 else "another process"
    return (f"{path}: a training run ({who}) is writing this model directory; wait for it to finish, or stop "
            f"it (Ctrl-C, or kill {holder if holder > 0 else 'it'}) and continue it with --resume {path}")


BUNDLED_NAMES = ("conll2003", "wikigold")


def bundled_model(name: str | None = None) -> Path:
    """A bundled model's directory: ``name`` (one of `BUNDLED_NAMES`), or by default the CoNLL-2003 one
    when installed, else the WikiGold one."""
    if name is not None:
        if name not in BUNDLED_NAMES:
            raise ModelError(f"{name}: no bundled model of that name (there are {', '.join(BUNDLED_NAMES)})")
        return BUNDLED_MODELS / name
    for name in BUNDLED_NAMES:
        if ModelDir(BUNDLED_MODELS / name).weights_file.exists():
            return BUNDLED_MODELS / name
    return BUNDLED_MODELS / "wikigold"
