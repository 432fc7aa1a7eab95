"""Training: epochs of SGD-family updates, dev-set model selection, early stopping, resumable checkpoints.

Reproducibility: two generators drive all randomness. ``data_rng`` shuffles the batches (its state at the
start of each epoch is saved, so the epoch's batch order can be rebuilt); ``noise_rng`` draws dropout
masks and singleton replacements (saved as of the last finished batch). A checkpoint after batch ``i`` of
epoch ``e`` therefore resumes exactly: same batches, same noise, same parameters (and, with
``ema_decay``, the same parameter average, which is what dev scores and the saved model then use).
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .config import Config
from .data.batches import encode_sentences, make_batches
from .data.conll import Sentence
from .data.embeddings import load_embeddings
from .data.schemes import detect_scheme, scheme_tags, tags_to_spans
from .data.vocab import Vocab
from .errors import DataError, ModelError, NertagError
from .files import atomic_open, stale_temporary_files, write_json
from .model_dir import ModelDir, load_weights, save_weights
from .net.averaging import ParameterAverage
from .net.crf import NonFiniteScores
from .net.optim import OPTIMIZERS
from .net.schedules import InverseTimeDecay
from .tagger import Tagger


class TrainingDiverged(NertagError):
    """The loss or gradient became NaN or infinite."""


@dataclass
class TrainResult:
    """What a training run did.

    ``status`` is "finished", "early-stopped" or "interrupted"; ``signal`` is the number of the signal
    (SIGINT, SIGTERM) that interrupted it, if one did.
    """

    model_dir: Path
    status: str
    epochs: int
    best_epoch: int
    best_dev: dict | None
    history: list[dict] = field(default_factory=list)
    signal: int | None = None


def build_tagger(config: Config, train: Sequence[Sentence], dev: Sequence[Sentence] = (),
                 embeddings: str | Path | None = None, log: Callable[[str], None] = print) -> Tagger:
    """A new, untrained tagger whose vocabularies come from ``train`` (and embeddings, if given)."""
    input_scheme = detect_scheme(s.tags for s in train)
    types = {t for s in train for _, _, t in tags_to_spans(s.tags, input_scheme)}
    tags = Vocab.for_tags(scheme_tags(types, config.scheme))
    words = Vocab.build((s.words for s in train), lowercase=config.lowercase,
                        normalise_digits=config.normalise_digits, min_count=config.min_count)
    chars = Vocab.build(w for s in train for w in s.words)
    matrix = None
    if embeddings is not None:
        init_rng = np.random.default_rng(config.seed)
        # With embeddings_vocab "all", every word of the file joins too, so unseen text finds its vector.
        found = load_embeddings(embeddings, words, extend_with=(w for s in dev for w in s.words),
                                extend_with_file=config.embeddings_vocab == "all", rng=init_rng)
        log(f"embeddings: {found.coverage}")
        words, matrix = found.vocab, found.matrix
        config = config.replace(word_dim=found.dim)
    tagger = Tagger(config, words, chars, tags, {"input_scheme": input_scheme, "types": sorted(types)})
    if matrix is not None:
        tagger.net.words.p["W"][...] = matrix
    return tagger


def make_optimizer(config: Config, tagger: Tagger, steps_per_epoch: int):
    schedule = InverseTimeDecay(config.lr, config.lr_decay, max(steps_per_epoch, 1))
    options = {"clip_norm": config.clip or None, "weight_decay": config.weight_decay}
    if config.optimizer in ("momentum", "nesterov"):
        options["momentum"] = config.momentum
    return OPTIMIZERS[config.optimizer](tagger.buffer, schedule, **options)


def _check_lengths(sentences: Sequence[Sentence], limit: int, path: str) -> None:
    for s in sentences:
        if len(s) > limit:
            raise DataError(f"sentence of {len(s)} tokens is longer than the limit of {limit} (config max_length)",
                            path, s.line)


class _StopRequest:
    """SIGINT/SIGTERM ask the loop to stop after the current batch; a second SIGINT stops at once."""

    def __init__(self):
        self.requested = False
        self.signum: int | None = None
        self._saved = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __exit__(self, *exc):
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _checkpoint(model_dir: Path, tagger: Tagger, opt, average: ParameterAverage | None,
                state: dict) -> None:
    extra = {f"opt/{k}": v for k, v in opt.state_dict().items()}
    if average is not None:
        extra.update({f"avg/{k}": v for k, v in average.state_dict().items()})
    extra["state"] = np.array(json.dumps(state))
    save_weights(model_dir / "checkpoint.npz", tagger.buffer.named(), extra)


def _write_metrics(model_dir: Path, history: list[dict]) -> None:
    with atomic_open(model_dir / "metrics.jsonl") as f:
        for row in history:
            f.write(json.dumps(row) + "\n")


def _fingerprint(sentences: Sequence[Sentence]) -> list[int]:
    return [len(sentences), sum(len(s) for s in sentences)]


# Configuration values a resumed run may change: they decide when to stop, not what a step computes.
RESUMABLE_CHANGES = ("epochs", "patience")


def _check_model_dir(model_dir: Path) -> None:
    """``model_dir`` must be, or be creatable as, a directory."""
    if model_dir.exists() and not model_dir.is_dir():
        raise NertagError(f"{model_dir}: exists and is not a directory; choose another --model-dir")
    for parent in model_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NertagError(f"{model_dir}: cannot create the model directory, {parent} is a file")
            break


def _resumed_config(saved: Config, wanted: Config | None, model_dir: Path) -> Config:
    if wanted is None:
        return saved
    differences = [f"{name} {getattr(wanted, name)!r} (the run has {getattr(saved, name)!r})"
                   for name in Config.__dataclass_fields__
                   if name not in RESUMABLE_CHANGES and getattr(wanted, name) != getattr(saved, name)]
    if differences:
        raise NertagError(f"{model_dir}: cannot resume with a different configuration: {', '.join(differences)}; "
                          f"a resumed run keeps its configuration, only {' and '.join(RESUMABLE_CHANGES)} may change")
    return saved.replace(**{name: getattr(wanted, name) for name in RESUMABLE_CHANGES})


_STATE_KEYS = ("epoch", "batch", "best_f1", "best_epoch", "bad_epochs", "history", "fingerprint", "data_rng",
               "noise_rng")


def check_resumable(model_dir: str | Path) -> Path:
    """``model_dir`` holds a checkpoint to resume (a ModelError or NertagError saying why not otherwise)."""
    return ModelDir.resumable(model_dir).path


def _load_checkpoint(model_dir: Path, tagger: Tagger) -> tuple[dict, dict, dict]:
    path = model_dir / "checkpoint.npz"
    arrays = load_weights(path, tagger.buffer.named(), "checkpoint")
    try:
        state = json.loads(str(arrays["state"]))
    except (KeyError, ValueError) as e:
        raise ModelError(f"{path}: damaged checkpoint ({type(e).__name__}: {e})") from None
    missing = [key for key in _STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ModelError(f"{path}: damaged checkpoint: the training state lacks {', '.join(missing)}")
    return state, *({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
                    for prefix in ("opt/", "avg/"))


def train(config: Config | None, train_data: Sequence[Sentence], dev_data: Sequence[Sentence] | None = None, *,
          model_dir: str | Path, embeddings: str | Path | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = None, train_path: str = "<train>",
          checkpoint_seconds: float = 300.0) -> TrainResult:
    """Train a tagger and keep the best model (by dev F1, or the last epoch without dev data) in ``model_dir``.

    Every write is atomic (temporary file, fsync, rename), and ``checkpoint.npz`` is written last: a run
    killed at any moment leaves a loadable checkpoint, and ``resume=True`` continues from it to the very
    parameters an uninterrupted run reaches (same seed, same data, one thread).

    Parameters
    ----------
    config : Config or None
        The run's configuration. On resume, None means the saved one; a Config must equal the saved one
        except for ``epochs`` and ``patience`` (see ``RESUMABLE_CHANGES``).
    train_data, dev_data : sentences with gold tags
    model_dir : directory for the model files, the checkpoint and ``metrics.jsonl``
    embeddings : GloVe / word2vec text file to initialise word vectors (new runs only)
    resume : continue from ``model_dir/checkpoint.npz``
    checkpoint_seconds : also checkpoint within an epoch after this many seconds (0: after every batch)

    Returns
    -------
    TrainResult

    Raises
    ------
    NertagError
        For unusable input; ``TrainingDiverged`` when the loss, a gradient or the parameters stop being
        finite (the last checkpoint on disk is then left as it was).
    """
    log = log or (lambda message: tqdm.write(message))
    model_dir = Path(model_dir)
    _check_model_dir(model_dir)
    if not train_data:
        raise DataError("no training sentences", train_path)
    dev_data = list(dev_data or [])

    with _StopRequest() as stop:
        if resume:
            check_resumable(model_dir)
            tagger = Tagger.from_files(model_dir)
            config = _resumed_config(tagger.config, config, model_dir)
            if config != tagger.config:
                tagger.config = config
                write_json(model_dir / "config.json", config.to_dict())
            state, opt_state, average_state = _load_checkpoint(model_dir, tagger)
            if state.get("fingerprint") != _fingerprint(train_data):
                expected = state.get("fingerprint") or ["?", "?"]
                raise NertagError(f"{train_path}: not the training data of the run in {model_dir} (expected "
                                  f"{expected[0]} sentences of {expected[1]} tokens, found "
                                  f"{len(train_data)} of {sum(len(s) for s in train_data)})")
        else:
            if config is None:
                raise TypeError("train() needs a Config for a new run")
            for name in ("checkpoint.npz", "weights.npz"):
                if (model_dir / name).exists():
                    raise NertagError(f"{model_dir}: holds a {'training run' if name == 'checkpoint.npz' else 'model'} "
                                      f"already; use --resume {model_dir} to continue it or choose another --model-dir")
            _check_lengths(train_data, config.max_length, train_path)
            tagger = build_tagger(config, train_data, dev_data, embeddings, log)
            config = tagger.config
            state = {"epoch": 0, "batch": 0, "best_f1": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [],
                     "fingerprint": _fingerprint(train_data),
                     "data_rng": np.random.default_rng([config.seed, 1]).bit_generator.state,
                     "noise_rng": np.random.default_rng([config.seed, 2]).bit_generator.state}
            opt_state = average_state = None

        for stale in stale_temporary_files(model_dir):  # left by a write that was killed
            stale.unlink(missing_ok=True)
        input_scheme = tagger.meta["input_scheme"]
        try:
            encoded = encode_sentences(train_data, tagger.words, tagger.chars, tagger.tags,
                                       schemes=(input_scheme, config.scheme), path=train_path)
        except DataError as e:
            if not resume:
                raise
            raise DataError(f"{e.message}: the run in {model_dir} was started with another tag set",
                            e.path, e.line) from None
        steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
        opt = make_optimizer(config, tagger, steps_per_epoch)
        if opt_state is not None:
            try:
                opt.load_state_dict(opt_state)
            except (KeyError, ValueError, TypeError) as e:
                raise ModelError(f"{model_dir / 'checkpoint.npz'}: damaged checkpoint: optimiser state does not "
                                 f"fit the configuration ({type(e).__name__}: {e})") from None
        average = ParameterAverage(tagger.buffer, config.ema_decay) if config.ema_decay else None
        if average is not None and average_state is not None:
            try:
                average.load_state_dict(average_state)
            except ValueError as e:
                raise ModelError(f"{model_dir / 'checkpoint.npz'}: damaged checkpoint: parameter average "
                                 f"({e})") from None
        data_rng, noise_rng = np.random.default_rng(), np.random.default_rng()
        try:
            data_rng.bit_generator.state = state["data_rng"]
            noise_rng.bit_generator.state = state["noise_rng"]
        except (KeyError, ValueError, TypeError) as e:
            raise ModelError(f"{model_dir / 'checkpoint.npz'}: damaged checkpoint: random generator state "
                             f"({type(e).__name__}: {e})") from None
        dev_scheme = detect_scheme(s.tags for s in dev_data) if dev_data else input_scheme
        history = state["history"]
        status = "finished"

        def save_state(epoch: int, batch: int, epoch_start, epoch_loss: float = 0.0, epoch_tokens: int = 0,
                       epoch_seconds: float = 0.0) -> None:
            _check_finite(tagger, opt, model_dir, state)
            state.update(epoch=epoch, batch=batch, data_rng=epoch_start, noise_rng=noise_rng.bit_generator.state,
                         epoch_loss=epoch_loss, epoch_tokens=epoch_tokens, epoch_seconds=epoch_seconds)
            _checkpoint(model_dir, tagger, opt, average, state)

        def interrupted(epoch: int, batch: int) -> TrainResult:
            log(f"interrupted: checkpoint saved in {model_dir} at epoch {epoch}, batch {batch}; "
                f"continue with --resume {model_dir}")
            return TrainResult(model_dir, "interrupted", state["epoch"], state["best_epoch"], _best(history, state),
                               history, stop.signum)

        if not resume:
            # The files fixed for the run, then a checkpoint of step 0: from here on --resume always works.
            ModelDir(model_dir).write_description(tagger.description)
            save_state(0, 0, state["data_rng"])

        def should_stop() -> bool:
            return bool(dev_data) and state["bad_epochs"] >= config.patience

        while state["epoch"] < config.epochs and not should_stop():
            if stop.requested:
                return interrupted(state["epoch"] + 1, state["batch"])
            epoch = state["epoch"] + 1
            epoch_start = data_rng.bit_generator.state
            batches = list(make_batches(encoded, config.batch_size, rng=data_rng))
            first = state["batch"]
            started = last_save = time.perf_counter()
            total_loss, tokens = state.get("epoch_loss", 0.0), state.get("epoch_tokens", 0)
            earlier_seconds = state.get("epoch_seconds", 0.0)
            bar = tqdm(total=len(batches), initial=first, desc=f"epoch {epoch}", unit="batch",
                       disable=not progress, leave=False, dynamic_ncols=True)
            for i in range(first, len(batches)):
                batch = batches[i]
                tagger.buffer.zero_grad()
                words = batch.words
                if config.singleton_unk > 0:
                    words = tagger.words.replace_singletons(batch.words, config.singleton_unk, noise_rng)
                where = f"step {opt.t + 1} (epoch {epoch}, batch {i + 1} of {len(batches)})"
                try:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        loss = tagger.net.loss(batch, noise_rng, words)
                except (ValueError, FloatingPointError) as e:
                    if not np.all(np.isfinite(tagger.buffer.data)):
                        bar.close()  # the last step overflowed the parameters; the layers refuse them
                        raise TrainingDiverged(f"training diverged at step {opt.t} (epoch {epoch}): the "
                                               f"parameters are no longer finite; {_intact(model_dir, state)}") from None
                    if not isinstance(e, NonFiniteScores):
                        raise
                    bar.close()  # finite but huge parameters overflowed the scores
                    raise TrainingDiverged(f"training diverged at {where}: {e}; {_intact(model_dir, state)}") from None
                if not math.isfinite(loss):
                    bar.close()
                    raise TrainingDiverged(f"training diverged at {where}: the loss is {loss}; "
                                           f"{_intact(model_dir, state)}")
                try:
                    with np.errstate(over="ignore", invalid="ignore"):
                        opt.step()
                except FloatingPointError:
                    bar.close()
                    raise TrainingDiverged(f"training diverged at {where}: a gradient is not finite; "
                                           f"{_intact(model_dir, state)}") from None
                if average is not None:
                    average.update()
                total_loss += loss
                tokens += batch.n_tokens
                bar.update(1)
                if i % 20 == 0:
                    bar.set_postfix(loss=f"{loss / len(batch.lengths):.3f}",
                                    tok_s=f"{tokens / max(time.perf_counter() - started, 1e-9):.0f}")
                if stop.requested or time.perf_counter() - last_save > checkpoint_seconds:
                    save_state(epoch - 1, i + 1, epoch_start, total_loss, tokens,
                               earlier_seconds + time.perf_counter() - started)
                    last_save = time.perf_counter()
                    if stop.requested:
                        bar.close()
                        return interrupted(epoch, i + 1)
            bar.close()
            _check_finite(tagger, opt, model_dir, state)
            seconds = earlier_seconds + time.perf_counter() - started
            row = {"epoch": epoch, "loss": total_loss / len(encoded), "lr": opt.lr, "seconds": round(seconds, 2),
                   "tokens_per_s": round(tokens / max(seconds, 1e-9))}
            # The model judged on dev and saved is the average, when there is one; training goes on from
            # the trained parameters, which are back in place after the block.
            with average.swapped() if average is not None else contextlib.nullcontext():
                if dev_data:
                    scores, _ = tagger.evaluate(dev_data, dev_scheme, source="dev")
                    row["dev"] = {k: round(scores["overall"][k], 2) for k in ("precision", "recall", "f1")}
                f1 = row["dev"]["f1"] if dev_data else float(epoch)
                improved = f1 > state["best_f1"]
                if improved:
                    state.update(best_f1=f1, best_epoch=epoch, bad_epochs=0)
                    ModelDir(model_dir).save_weights(tagger.buffer.named())
                    ModelDir(model_dir).write_meta( {**tagger.meta, "best_epoch": epoch,
                                                   "scores": {"dev": row.get("dev")}})
                else:
                    state["bad_epochs"] += 1
            history.append(row)
            # The checkpoint goes last: killed before it, the run redoes this epoch and rewrites the same files.
            _write_metrics(model_dir, history)
            save_state(epoch, 0, data_rng.bit_generator.state)
            dev_text = f"  dev P/R/F1 {row['dev']['precision']:.2f}/{row['dev']['recall']:.2f}/" \
                       f"{row['dev']['f1']:.2f}" if dev_data else ""
            log(f"epoch {epoch}: loss {row['loss']:.4f}  {row['tokens_per_s']} tok/s{dev_text}"
                f"{'  *best*' if improved and dev_data else ''}")
            if should_stop():
                log(f"early stop: no better dev F1 for {config.patience} epochs (best {state['best_f1']:.2f} "
                    f"at epoch {state['best_epoch']})")
            if stop.requested and state["epoch"] < config.epochs and not should_stop():
                return interrupted(epoch + 1, 0)
        if should_stop():
            status = "early-stopped"
    return TrainResult(model_dir, status, state["epoch"], state["best_epoch"], _best(history, state), history)


def _intact(model_dir: Path, state: dict) -> str:
    return (f"the last good checkpoint, epoch {state['epoch']} batch {state['batch']}, is intact in "
            f"{model_dir / 'checkpoint.npz'}; start a new run with a lower --lr or a --clip")


def _check_finite(tagger: Tagger, opt, model_dir: Path, state: dict) -> None:
    """Never write a checkpoint or model with NaN or infinite parameters."""
    if not np.all(np.isfinite(tagger.buffer.data)):
        raise TrainingDiverged(f"training diverged at step {opt.t}: the parameters are no longer finite; "
                               f"{_intact(model_dir, state)}")


def _best(history: list[dict], state: dict) -> dict | None:
    for row in history:
        if row["epoch"] == state["best_epoch"]:
            return row.get("dev")
    return None
