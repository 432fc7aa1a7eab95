"""What a checkpoint holds besides the parameters, and what a resumed run may change.

``checkpoint.npz`` (written by :class:`nertag.model_dir.ModelDir`) holds the parameters as
``param/<name>``, the optimiser's arrays as ``opt/<name>``, the parameter average's as ``avg/<name>``
(with ``ema_decay``), and the :class:`TrainState` as JSON text in ``state``.
"""
from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .config import Config
from .data.conll import Sentence
from .errors import ModelError, NertagError, shorten
from .files import parse_json
from .net.averaging import ParameterAverage
from .net.optim import Optimizer

# Configuration values a resumed run may change: they decide when to stop, not what a step computes.
RESUMABLE_CHANGES = ("epochs", "patience")


def resumed_config(saved: Config, changes: Config | Mapping | None, model_dir: Path) -> Config:
    """``saved`` with ``changes`` (a Config, or field values), which may only touch ``RESUMABLE_CHANGES``.

    Raises
    ------
    NertagError
        Naming every other field that would change, with both values.
    """
    if changes is None:
        return saved
    wanted = changes if isinstance(changes, Config) else saved.replace(**changes)
    differences = [f"{f.name} {getattr(wanted, f.name)!r} (the run has {getattr(saved, f.name)!r})"
                   for f in fields(Config)
                   if f.name not in RESUMABLE_CHANGES and getattr(wanted, f.name) != getattr(saved, f.name)]
    if differences:
        raise NertagError(f"{model_dir}: cannot resume with a different configuration: {', '.join(differences)}; "
                          f"a resumed run keeps its configuration, only {' and '.join(RESUMABLE_CHANGES)} may change")
    return saved.replace(**{name: getattr(wanted, name) for name in RESUMABLE_CHANGES})


def fingerprint(sentences: Sequence[Sentence]) -> list[int]:
    """Sentences and tokens of a corpus: enough to tell another training set from the run's own."""
    return [len(sentences), sum(len(s) for s in sentences)]


@dataclass(kw_only=True)
class TrainState:
    """Where a run is: with the arrays of its checkpoint, all a resumed run needs to go on bit for bit.

    The field order is the key order of the JSON, and so part of the checkpoint's bytes.

    Attributes
    ----------
    epoch, batch : int
        Epochs finished, and batches of the next epoch finished.
    best_f1, best_epoch, bad_epochs : float, int, int
        Model selection: the best dev F1 (the epoch number without dev data), its epoch, and the epochs
        since then without a better one.
    history : list of dict
        One row of ``metrics.jsonl`` per finished epoch.
    fingerprint : [int, int]
        Sentences and tokens of the training data, to refuse resuming on other data.
    data_rng, noise_rng : dict
        Bit-generator states: ``data_rng`` as of the start of the epoch under way, ``noise_rng`` as of the
        last finished batch.
    epoch_loss, epoch_tokens, epoch_seconds : float, int, float
        Running totals of the epoch under way.
    """

    epoch: int = 0
    batch: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    fingerprint: list[int]
    data_rng: dict
    noise_rng: dict
    epoch_loss: float = 0.0
    epoch_tokens: int = 0
    epoch_seconds: float = 0.0

    # Keys every checkpoint has held; the epoch totals came later and default to zero.
    REQUIRED = ("epoch", "batch", "best_f1", "best_epoch", "bad_epochs", "history", "fingerprint", "data_rng",
                "noise_rng")

    @classmethod
    def new(cls, train_data: Sequence[Sentence], seed: int) -> TrainState:
        """The state before the first step of a run on ``train_data`` with ``seed``."""
        return cls(fingerprint=fingerprint(train_data),
                   data_rng=np.random.default_rng([seed, 1]).bit_generator.state,
                   noise_rng=np.random.default_rng([seed, 2]).bit_generator.state)

    def best_dev(self) -> dict | None:
        """The dev scores of the best epoch, if there are any."""
        return next((row.get("dev") for row in self.history if row["epoch"] == self.best_epoch), None)


_COUNT_LIMIT = 10 ** 9  # epochs, batches, sentences or tokens beyond this are no real run's


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _state_problem(values: dict) -> str | None:
    """What is wrong with the training state ``values`` (TrainState's fields from JSON), or None."""
    for name in ("epoch", "batch", "best_epoch", "bad_epochs", "epoch_tokens"):
        value = values.get(name, 0)
        if not _is_int(value) or not 0 <= value <= _COUNT_LIMIT:
            return f"{name} must be a whole number from 0 to {_COUNT_LIMIT:,}, found {shorten(repr(value))}"
    for name, low in (("best_f1", -1.0), ("epoch_loss", 0.0), ("epoch_seconds", 0.0)):
        value = values.get(name, low)
        if not _is_number(value) or value < low or (name == "best_f1" and value > 100):
            bound = "from -1 to 100" if name == "best_f1" else "a finite number, not negative"
            return f"{name} must be {bound}, found {shorten(repr(value))}"
    history = values["history"]
    if not isinstance(history, list) or not all(isinstance(row, dict) and _is_int(row.get("epoch"))
                                                for row in history):
        return f"history must list a row per finished epoch, found {shorten(repr(history))}"
    epoch = values.get("epoch", 0)
    if [row["epoch"] for row in history] != list(range(1, len(history) + 1)) or len(history) != epoch:
        numbers = shorten(repr([row["epoch"] for row in history]))
        return f"epoch {epoch} does not match the history, which must list epochs 1 to {epoch}, found {numbers}"
    for name in ("best_epoch", "bad_epochs"):
        if values.get(name, 0) > epoch:
            return f"{name} {values[name]} is beyond the {epoch} epochs finished"
    fingerprint_ = values["fingerprint"]
    if not (isinstance(fingerprint_, list) and len(fingerprint_) == 2 and
            all(_is_int(n) and 0 <= n <= _COUNT_LIMIT for n in fingerprint_)):
        return f"fingerprint must be two counts, found {shorten(repr(fingerprint_))}"
    for name in ("data_rng", "noise_rng"):
        if not isinstance(values[name], dict):
            return f"{name} must be a generator state (a JSON object), found {shorten(repr(values[name]))}"
    return None


def _position_problem(values: dict, batch_size: int) -> str | None:
    """Is the batch counter of the checked state ``values`` beyond an epoch of ``batch_size`` batches?"""
    sentences = values["fingerprint"][0]
    batches = math.ceil(sentences / batch_size)  # make_batches: every chunk but the last a whole number of batches
    if values["batch"] > batches:
        return (f"batch {values['batch']} is beyond the {batches} batches of an epoch ({sentences} sentences in "
                f"batches of {batch_size})")
    return None


@contextlib.contextmanager
def restoring(path: Path, part: str | None, with_type: bool = True):
    """Report an error while restoring ``part`` of the checkpoint ``path`` as a damaged checkpoint, in one line.

    ``with_type`` puts the exception's type before its message.
    """
    try:
        yield
    except (KeyError, ValueError, TypeError, OverflowError) as e:  # (a generator state's integer out of range)
        cause = f"{type(e).__name__}: {e}" if with_type else str(e)
        raise ModelError(f"{path}: damaged checkpoint{f': {part}' if part else ''} ({cause})") from None


def pack(state: TrainState, opt: Optimizer, average: ParameterAverage | None) -> dict[str, np.ndarray]:
    """The checkpoint's arrays besides the parameters, in the order they are written."""
    arrays = {f"opt/{k}": v for k, v in opt.state_dict().items()}
    if average is not None:
        arrays.update({f"avg/{k}": v for k, v in average.state_dict().items()})
    arrays["state"] = np.array(json.dumps(asdict(state)))
    return arrays


@dataclass(frozen=True)
class Checkpoint:
    """The unpacked arrays of a checkpoint (its parameters are already in place)."""

    state: TrainState
    opt: dict[str, np.ndarray]
    average: dict[str, np.ndarray]

    @classmethod
    def unpack(cls, arrays: dict[str, np.ndarray], path: Path, batch_size: int | None = None) -> Checkpoint:
        """Read the training state of the checkpoint ``path`` from its arrays (ModelError if damaged).

        With the run's ``batch_size``, the batch counter must also lie within an epoch of the run's training
        data (as many sentences as its fingerprint says, which resuming checks against the data given).
        """
        with restoring(path, None):
            text = arrays["state"]
            if text.dtype.kind != "U" or text.shape != ():
                raise TypeError(f"the training state is an array of {text.dtype} {text.shape}, expected JSON text")
        values = parse_json(str(text), str(path), "checkpoint")
        missing = [key for key in TrainState.REQUIRED if not isinstance(values, dict) or key not in values]
        if missing:
            raise ModelError(f"{path}: damaged checkpoint: the training state lacks {', '.join(missing)}")
        values = {f.name: values[f.name] for f in fields(TrainState) if f.name in values}
        problem = _state_problem(values)
        if problem is None and batch_size is not None:
            problem = _position_problem(values, batch_size)
        if problem:
            raise ModelError(f"{path}: damaged checkpoint: {problem}")
        state = TrainState(**values)
        opt, average = ({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
                        for prefix in ("opt/", "avg/"))
        return cls(state, opt, average)

    def restore(self, path: Path, opt: Optimizer, average: ParameterAverage | None) -> None:
        """Put the optimiser's and the average's saved arrays back (ModelError if they do not fit)."""
        with restoring(path, "optimiser state does not fit the configuration"):
            opt.load_state_dict(self.opt)
        if average is not None:
            with restoring(path, "parameter average", with_type=False):
                average.load_state_dict(self.average)
