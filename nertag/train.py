"""Training: epochs of SGD-family updates, dev-set model selection, early stopping, resumable checkpoints.

Reproducibility: two generators drive all randomness. ``data_rng`` shuffles the batches (its state at the
start of each epoch is saved, so the epoch's batch order can be rebuilt); ``noise_rng`` draws dropout
masks and singleton replacements (saved as of the last finished batch). A checkpoint after batch ``i`` of
epoch ``e`` therefore resumes exactly: same batches, same noise, same parameters (and, with
``ema_decay``, the same parameter average, which is what dev scores and the saved model then use).

A run is a :class:`Run`: the model, its optimiser, generators and files, and its
:class:`~nertag.checkpoint.TrainState` (where it is, saved in every checkpoint). :func:`train` starts or
resumes one and drives it through :func:`_train_epoch` (batches, each one :func:`_step`) and
:func:`_end_epoch` (evaluate, keep the best, save).
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .config import Config
from .data.batches import Batch, encode_sentences, make_batches
from .data.conll import Sentence
from .data.embeddings import load_embeddings
from .data.schemes import detect_scheme, scheme_tags, tags_to_spans
from .data.vocab import Vocab
from .checkpoint import Checkpoint, TrainState, fingerprint, pack, resumed_config, restoring
from .errors import DataError, NertagError
from .model_dir import ModelDir
from .net.averaging import ParameterAverage
from .net.crf import NonFiniteScores
from .net.fitting import NonFiniteGradient, NonFiniteLoss, Patience, train_step
from .net.optim import OPTIMIZERS, Optimizer
from .net.schedules import InverseTimeDecay
from .pictures.curve import write_curve
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


@dataclass
class Run:
    """A training run under way: the model and what updates it, the data, the files, the state."""

    files: ModelDir
    tagger: Tagger
    config: Config
    encoded: list
    opt: Optimizer
    average: ParameterAverage | None
    state: TrainState
    data_rng: np.random.Generator
    noise_rng: np.random.Generator
    dev_data: list[Sentence]
    dev_scheme: str
    log: Callable[[str], None]

    def should_stop(self) -> bool:
        """Early stopping: ``patience`` epochs without a better dev F1 (never without dev data)."""
        return bool(self.dev_data) and self.state.bad_epochs >= self.config.patience

    def intact(self) -> str:
        """The end of every divergence message: where the last good checkpoint is."""
        return (f"the last good checkpoint, epoch {self.state.epoch} batch {self.state.batch}, is intact in "
                f"{self.files.checkpoint_file}; start a new run with a lower --lr or a --clip")

    def check_finite(self) -> None:
        """Never write a checkpoint or model with NaN or infinite parameters."""
        if not np.all(np.isfinite(self.tagger.buffer.data)):
            raise TrainingDiverged(f"training diverged at step {self.opt.t}: the parameters are no longer finite; "
                                   f"{self.intact()}")

    def checkpoint(self, epoch: int, batch: int, data_rng: dict, loss: float = 0.0, tokens: int = 0,
                   seconds: float = 0.0) -> None:
        """Save the run as of batch ``batch`` of epoch ``epoch + 1`` (``data_rng``: that epoch's start)."""
        self.check_finite()
        state = self.state
        state.epoch, state.batch, state.data_rng = epoch, batch, data_rng
        state.noise_rng = self.noise_rng.bit_generator.state
        state.epoch_loss, state.epoch_tokens, state.epoch_seconds = loss, tokens, seconds
        self.files.save_checkpoint(self.tagger.buffer.named(), pack(state, self.opt, self.average))

    def result(self, status: str, signum: int | None = None) -> TrainResult:
        return TrainResult(self.files.path, status, self.state.epoch, self.state.best_epoch, self.state.best_dev(),
                           self.state.history, signum)


# -- building a run ------------------------------------------------------------------------------------------
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


def make_optimizer(config: Config, tagger: Tagger, steps_per_epoch: int) -> Optimizer:
    schedule = InverseTimeDecay(config.lr, config.lr_decay, max(steps_per_epoch, 1))
    options = {"clip_norm": config.clip or None, "weight_decay": config.weight_decay}
    if config.optimizer in ("momentum", "nesterov"):
        options["momentum"] = config.momentum
    return OPTIMIZERS[config.optimizer](tagger.buffer, schedule, **options)


def split_long(sentences: Sequence[Sentence], limit: int, path: str, log: Callable[[str], None]) -> list[Sentence]:
    """The sentences, each longer than ``limit`` tokens cut into pieces of at most ``limit``, with a log line.

    Real corpora have such "sentences" (CoNLL-2002 Spanish: a stock-price table of 1238 tokens without a
    break). A cut falls outside entities where it can: at the last token of the piece that begins one.
    """
    if all(len(s) <= limit for s in sentences):
        return list(sentences)
    scheme = detect_scheme(s.tags for s in sentences)
    out: list[Sentence] = []
    long = []
    for s in sentences:
        if len(s) <= limit:
            out.append(s)
            continue
        long.append(s)
        starts = {start for start, _, _ in tags_to_spans(s.tags, scheme)} | {i for i, t in enumerate(s.tags) if t == "O"}
        begin = 0
        while len(s) - begin > limit:
            cut = max((i for i in starts if begin < i <= begin + limit), default=begin + limit)
            out.append(_piece(s, begin, cut))
            begin = cut
        out.append(_piece(s, begin, len(s)))
    if long:
        where = ", ".join(f"line {s.line} ({len(s)} tokens)" for s in long[:3]) + (", ..." if len(long) > 3 else "")
        log(f"{path}: {len(long)} sentence{'s' if len(long) > 1 else ''} longer than {limit} tokens "
            f"(--max-length) trained in pieces: {where}")
    return out


def _piece(s: Sentence, begin: int, end: int) -> Sentence:
    return Sentence(s.words[begin:end], s.tags[begin:end], s.columns[begin:end], s.doc, s.line + begin,
                    s.docstart if begin == 0 else None)


def _new_run(files: ModelDir, config: Config | None, train_data: Sequence[Sentence], dev_data: list[Sentence],
             embeddings, train_path: str, log, card: Mapping | None = None) -> Run:
    if config is None:
        raise TypeError("train() needs a Config for a new run")
    train_data = split_long(train_data, config.max_length, train_path, log)
    tagger = build_tagger(config, train_data, dev_data, embeddings, log)
    tagger.meta.update(card or {})
    run = _assemble(files, tagger, TrainState.new(train_data, tagger.config.seed), train_data, dev_data,
                    train_path, log)
    # The files fixed for the run, then a checkpoint of step 0: from here on --resume always works.
    files.write_description(tagger.description)
    run.checkpoint(0, 0, run.state.data_rng)
    return run


def _resumed_run(files: ModelDir, changes: Config | Mapping | None, train_data: Sequence[Sentence],
                 dev_data: list[Sentence], train_path: str, log) -> Run:
    saved = files.describe()
    config = resumed_config(saved.config, changes, files.path)
    train_data = split_long(train_data, config.max_length, train_path, log)
    tagger = Tagger(config, saved.words, saved.chars, saved.tags, saved.meta)
    checkpoint = Checkpoint.unpack(files.load_checkpoint(tagger.buffer.named()), files.checkpoint_file,
                                   config.batch_size)
    state = checkpoint.state
    if state.fingerprint != fingerprint(train_data):
        expected = state.fingerprint or ["?", "?"]
        raise NertagError(f"{train_path}: not the training data of the run in {files.path} (expected "
                          f"{expected[0]} sentences of {expected[1]} tokens, found "
                          f"{len(train_data)} of {sum(len(s) for s in train_data)})")
    run = _assemble(files, tagger, state, train_data, dev_data, train_path, log, checkpoint)
    if not dev_data and any("dev" in row for row in state.history):
        log(f"no dev data: the model of each epoch from now on is saved, in place of the best dev epoch "
            f"{state.best_epoch}")
    if config != saved.config:
        files.write_config(config)
    return run


def _assemble(files: ModelDir, tagger: Tagger, state: TrainState, train_data: Sequence[Sentence],
              dev_data: list[Sentence], train_path: str, log, checkpoint: Checkpoint | None = None) -> Run:
    """The run of ``tagger`` from ``state``; with the ``checkpoint`` of a resumed run, restored."""
    files.remove_stale_temporaries()  # left by a write that was killed
    config, input_scheme = tagger.config, tagger.meta["input_scheme"]
    try:
        encoded = encode_sentences(train_data, tagger.words, tagger.chars, tagger.tags,
                                   schemes=(input_scheme, config.scheme), path=train_path)
    except DataError as e:
        if checkpoint is None:
            raise
        raise DataError(f"{e.message}: the run in {files.path} was started with another tag set",
                        e.path, e.line) from None
    opt = make_optimizer(config, tagger, math.ceil(len(encoded) / config.batch_size))
    average = ParameterAverage(tagger.buffer, config.ema_decay) if config.ema_decay else None
    path = files.checkpoint_file
    if checkpoint is not None:
        checkpoint.restore(path, opt, average)
    data_rng, noise_rng = np.random.default_rng(), np.random.default_rng()
    with restoring(path, "random generator state"):
        data_rng.bit_generator.state = state.data_rng
        noise_rng.bit_generator.state = state.noise_rng
    dev_scheme = detect_scheme(s.tags for s in dev_data) if dev_data else input_scheme
    return Run(files, tagger, config, encoded, opt, average, state, data_rng, noise_rng, dev_data, dev_scheme, log)


# -- running it ------------------------------------------------------------------------------------------------
class _StopRequest:
    """SIGINT/SIGTERM ask the loop to stop after the current batch; a second SIGINT ends the process at once."""

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
            # At once means at once: an exception raised here could land inside any library call (tqdm's
            # lock, a write) and leave it broken. Every file is written atomically, so each keeps its last
            # whole version; a killed write's temporary file is removed by the next run.
            os.write(2, b"nertag: interrupted again: stopped at once; the last checkpoint is intact\n")
            os._exit(128 + signal.SIGINT)
        self.requested, self.signum = True, signum

    def __exit__(self, *exc):
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def train(config: Config | Mapping | None, train_data: Sequence[Sentence], dev_data: Sequence[Sentence] | None = None,
          *, model_dir: str | Path | ModelDir, embeddings: str | Path | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = None, train_path: str = "<train>",
          checkpoint_seconds: float = 300.0, overwrite: bool = False, card: Mapping | None = None) -> TrainResult:
    """Train a tagger and keep the best model (by dev F1, or the last epoch without dev data) in ``model_dir``.

    Every write is atomic (temporary file, fsync, rename), and ``checkpoint.npz`` is written last: a run
    killed at any moment leaves a loadable checkpoint, and ``resume=True`` continues from it to the very
    parameters an uninterrupted run reaches (same seed, same data, one thread).

    Parameters
    ----------
    config : Config, mapping or None
        A new run's configuration. On resume, changes to the saved one: None for none, a mapping of field
        values or a whole Config; only ``epochs`` and ``patience`` may differ (``RESUMABLE_CHANGES``).
    train_data, dev_data : sentences with gold tags
    model_dir : directory for the model files, the checkpoint and ``metrics.jsonl``; a ModelDir is taken
        as already checked (by ``ModelDir.for_new_run`` or ``ModelDir.resumable``)
    embeddings : GloVe / word2vec text file to initialise word vectors (new runs only)
    resume : continue from ``model_dir/checkpoint.npz``
    checkpoint_seconds : also checkpoint within an epoch after this many seconds (0: after every batch)
    overwrite : a new run replaces the files of an earlier run or model in ``model_dir`` (only those)
    card : model card fields for a new run's ``meta.json`` (see :mod:`nertag.model_card`)

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
    if not isinstance(model_dir, ModelDir):
        model_dir = ModelDir.resumable(model_dir) if resume else ModelDir.for_new_run(model_dir, overwrite)
    if not train_data:
        raise DataError("no training sentences", train_path)
    dev_data = list(dev_data or [])

    with model_dir.locked(), _StopRequest() as stop:  # a second writer is refused, naming this process
        if resume:
            run = _resumed_run(model_dir, config, train_data, dev_data, train_path, log)
        else:
            run = _new_run(model_dir, config, train_data, dev_data, embeddings, train_path, log, card)
        while run.state.epoch < run.config.epochs and not run.should_stop():
            if stop.requested or not _train_epoch(run, stop, progress, checkpoint_seconds):
                run.log(f"interrupted: checkpoint saved in {model_dir.path} at epoch {run.state.epoch + 1}, batch "
                        f"{run.state.batch}; continue with --resume {model_dir.path}")
                return run.result("interrupted", stop.signum)
    return run.result("early-stopped" if run.should_stop() else "finished")


def _train_epoch(run: Run, stop: _StopRequest, progress: bool, checkpoint_seconds: float) -> bool:
    """Train the rest of the next epoch and end it; False when a stop request cut it short (saved first)."""
    state, epoch = run.state, run.state.epoch + 1
    epoch_start = run.data_rng.bit_generator.state
    batches = list(make_batches(run.encoded, run.config.batch_size, rng=run.data_rng))
    started = last_save = time.perf_counter()
    total_loss, tokens = state.epoch_loss, state.epoch_tokens
    earlier_seconds = state.epoch_seconds
    with tqdm(total=len(batches), initial=state.batch, desc=f"epoch {epoch}", unit="batch", disable=not progress,
              leave=False, dynamic_ncols=True) as bar:
        for i in range(state.batch, len(batches)):
            batch = batches[i]
            loss = _step(run, batch, epoch, f"step {run.opt.t + 1} (epoch {epoch}, batch {i + 1} of {len(batches)})")
            total_loss += loss
            tokens += batch.n_tokens
            bar.update(1)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{loss / len(batch.lengths):.3f}",
                                tok_s=f"{tokens / max(time.perf_counter() - started, 1e-9):.0f}")
            if stop.requested or time.perf_counter() - last_save > checkpoint_seconds:
                run.checkpoint(epoch - 1, i + 1, epoch_start, total_loss, tokens,
                               earlier_seconds + time.perf_counter() - started)
                last_save = time.perf_counter()
                if stop.requested:
                    return False
    _end_epoch(run, epoch, total_loss, tokens, earlier_seconds + time.perf_counter() - started)
    return True


def _step(run: Run, batch: Batch, epoch: int, where: str) -> float:
    """One optimiser step on ``batch``; its loss. A loss, score, gradient or parameter that stops being finite
    raises TrainingDiverged naming the step (``where``) and the last good checkpoint."""
    tagger, opt = run.tagger, run.opt

    def loss_and_backward() -> float:  # the summed CRF loss of the batch: the tagger does not divide by B
        words = batch.words
        if run.config.singleton_unk > 0:
            words = tagger.words.replace_singletons(batch.words, run.config.singleton_unk, run.noise_rng)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return tagger.net.loss(batch, run.noise_rng, words)
        except (ValueError, FloatingPointError) as e:
            if not np.all(np.isfinite(tagger.buffer.data)):  # the last step overflowed the parameters
                raise TrainingDiverged(f"training diverged at step {opt.t} (epoch {epoch}): the parameters are "
                                       f"no longer finite; {run.intact()}") from None
            if not isinstance(e, NonFiniteScores):
                raise
            # finite but huge parameters overflowed the scores
            raise TrainingDiverged(f"training diverged at {where}: {e}; {run.intact()}") from None

    try:
        loss = train_step(tagger.buffer, opt, loss_and_backward)  # the step of nertag.net.fit
    except NonFiniteLoss as e:
        raise TrainingDiverged(f"training diverged at {where}: the loss is {e.loss}; {run.intact()}") from None
    except NonFiniteGradient:
        raise TrainingDiverged(f"training diverged at {where}: a gradient is not finite; {run.intact()}") from None
    if run.average is not None:
        run.average.update()
    return loss


def _end_epoch(run: Run, epoch: int, total_loss: float, tokens: int, seconds: float) -> None:
    """Score the epoch's model on dev, keep it if it is the best so far, write the metrics, checkpoint."""
    run.check_finite()
    state, tagger = run.state, run.tagger
    row = {"epoch": epoch, "loss": total_loss / len(run.encoded), "lr": run.opt.lr, "seconds": round(seconds, 2),
           "tokens_per_s": round(tokens / max(seconds, 1e-9))}
    # The model judged on dev and saved is the average, when there is one; training goes on from
    # the trained parameters, which are back in place after the block.
    with run.average.swapped() if run.average is not None else contextlib.nullcontext():
        if run.dev_data:
            scores, _ = tagger.evaluate(run.dev_data, run.dev_scheme, source="dev")
            row["dev"] = {k: round(scores["overall"][k], 2) for k in ("precision", "recall", "f1")}
        # Best only on a real score: a dev F1 above 0 and above the best so far. Without dev data, and
        # until some epoch has such a score, the newest epoch is saved (the directory always has a model).
        f1 = row["dev"]["f1"] if run.dev_data else 0.0
        watch = Patience(run.config.patience, best=state.best_f1, best_epoch=state.best_epoch,
                         bad_epochs=state.bad_epochs, floor=0.0)  # the bookkeeping of nertag.net.fit
        improved = watch.record(epoch, f1)
        state.best_f1, state.best_epoch, state.bad_epochs = watch.best, watch.best_epoch, watch.bad_epochs
        if not run.dev_data:
            state.best_epoch = epoch
        if improved or not run.dev_data or state.best_f1 <= 0:
            run.files.save_weights(tagger.buffer.named())
            run.files.write_meta({**tagger.meta, "best_epoch": state.best_epoch or None, "saved_epoch": epoch,
                                  "scores": {"dev": row.get("dev")}})
    state.history.append(row)
    # The checkpoint goes last: killed before it, the run redoes this epoch and rewrites the same files.
    run.files.write_metrics(state.history)
    write_curve(run.files.curve_file, state.history)
    run.checkpoint(epoch, 0, run.data_rng.bit_generator.state)
    dev_text = f"  dev P/R/F1 {row['dev']['precision']:.2f}/{row['dev']['recall']:.2f}/" \
               f"{row['dev']['f1']:.2f}" if run.dev_data else ""
    run.log(f"epoch {epoch}: loss {row['loss']:.4f}  {row['tokens_per_s']} tok/s{dev_text}"
            f"{'  *best*' if improved and run.dev_data else ''}")
    if run.should_stop() and state.best_f1 > 0:
        run.log(f"early stop: no better dev F1 for {run.config.patience} epochs (best {state.best_f1:.2f} "
                f"at epoch {state.best_epoch})")
    elif run.should_stop():
        run.log(f"early stop: no dev F1 above 0 in {run.config.patience} epochs; the model of epoch {epoch} "
                f"is saved")
