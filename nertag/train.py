"""Training: epochs of SGD-family updates, dev-set model selection, early stopping, resumable checkpoints.

Reproducibility: two generators drive all randomness. ``data_rng`` shuffles the batches (its state at the
start of each epoch is saved, so the epoch's batch order can be rebuilt); ``noise_rng`` draws dropout
masks and singleton replacements (saved as of the last finished batch). A checkpoint after batch ``i`` of
epoch ``e`` therefore resumes exactly: same batches, same noise, same parameters.
"""
from __future__ import annotations

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

from . import modelio
from .config import Config
from .data.batches import encode_sentences, make_batches
from .data.conll import Sentence
from .data.embeddings import load_embeddings
from .data.schemes import detect_scheme, scheme_tags, tags_to_spans
from .data.vocab import Vocab
from .errors import DataError, ModelError, NertagError
from .files import atomic_open
from .net.optim import OPTIMIZERS
from .net.schedules import InverseTimeDecay
from .tagger import Tagger


class TrainingDiverged(NertagError):
    """The loss or gradient became NaN or infinite."""


@dataclass
class TrainResult:
    """What a training run did: ``status`` is "finished", "early-stopped" or "interrupted"."""

    model_dir: Path
    status: str
    epochs: int
    best_epoch: int
    best_dev: dict | None
    history: list[dict] = field(default_factory=list)


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
        found = load_embeddings(embeddings, words, extend_with=(w for s in dev for w in s.words), rng=init_rng)
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
        self._saved = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _checkpoint(model_dir: Path, tagger: Tagger, opt, state: dict) -> None:
    extra = {f"opt/{k}": v for k, v in opt.state_dict().items()}
    extra["state"] = np.array(json.dumps(state))
    modelio.save_weights(model_dir / "checkpoint.npz", tagger.buffer.named(), extra)


def _write_metrics(model_dir: Path, history: list[dict]) -> None:
    with atomic_open(model_dir / "metrics.jsonl") as f:
        for row in history:
            f.write(json.dumps(row) + "\n")


def _fingerprint(sentences: Sequence[Sentence]) -> list[int]:
    return [len(sentences), sum(len(s) for s in sentences)]


def train(config: Config, train_data: Sequence[Sentence], dev_data: Sequence[Sentence] | None = None, *,
          model_dir: str | Path, embeddings: str | Path | None = None, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] | None = None, train_path: str = "<train>",
          checkpoint_seconds: float = 300.0) -> TrainResult:
    """Train a tagger and keep the best model (by dev F1, or the last epoch without dev data) in ``model_dir``.

    Parameters
    ----------
    config : Config
        Ignored on resume, where the configuration saved in ``model_dir`` is used.
    train_data, dev_data : sentences with gold tags
    model_dir : directory for the model files, the checkpoint and ``metrics.jsonl``
    embeddings : GloVe / word2vec text file to initialise word vectors (new runs only)
    resume : continue from ``model_dir/checkpoint.npz``
    checkpoint_seconds : also checkpoint within an epoch after this many seconds

    Returns
    -------
    TrainResult
    """
    log = log or (lambda message: tqdm.write(message))
    model_dir = Path(model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise NertagError(f"{model_dir}: exists and is not a directory; choose another --model-dir")
    if not train_data:
        raise DataError("no training sentences", train_path)
    dev_data = list(dev_data or [])

    if resume:
        tagger = Tagger.from_files(model_dir)
        config = tagger.config
        arrays = modelio.load_weights(model_dir / "checkpoint.npz", tagger.buffer.named(), "checkpoint")
        try:
            state = json.loads(str(arrays["state"]))
            opt_state = {k[len("opt/"):]: v for k, v in arrays.items() if k.startswith("opt/")}
        except (KeyError, ValueError) as e:
            raise ModelError(f"{model_dir / 'checkpoint.npz'}: damaged checkpoint ({e})") from None
        if state.get("fingerprint") != _fingerprint(train_data):
            raise NertagError(f"{train_path}: not the training data of the run in {model_dir} "
                              f"(expected {state.get('fingerprint')} sentences/tokens)")
    else:
        if (model_dir / "checkpoint.npz").exists():
            raise NertagError(f"{model_dir}: holds a training run already; use --resume to continue it "
                              f"or choose another --model-dir")
        _check_lengths(train_data, config.max_length, train_path)
        tagger = build_tagger(config, train_data, dev_data, embeddings, log)
        config = tagger.config
        modelio.write_model_files(model_dir, config, tagger.vocab_json(), tagger.meta)
        state = {"epoch": 0, "batch": 0, "best_f1": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [],
                 "fingerprint": _fingerprint(train_data),
                 "data_rng": np.random.default_rng([config.seed, 1]).bit_generator.state,
                 "noise_rng": np.random.default_rng([config.seed, 2]).bit_generator.state}
        opt_state = None

    input_scheme = tagger.meta["input_scheme"]
    encoded = encode_sentences(train_data, tagger.words, tagger.chars, tagger.tags,
                               schemes=(input_scheme, config.scheme), path=train_path)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    opt = make_optimizer(config, tagger, steps_per_epoch)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    data_rng, noise_rng = np.random.default_rng(), np.random.default_rng()
    data_rng.bit_generator.state = state["data_rng"]
    noise_rng.bit_generator.state = state["noise_rng"]
    dev_scheme = detect_scheme(s.tags for s in dev_data) if dev_data else input_scheme
    history = state["history"]
    status = "finished"

    def save_state(epoch: int, batch: int, epoch_start, epoch_loss: float = 0.0, epoch_tokens: int = 0) -> None:
        state.update(epoch=epoch, batch=batch, data_rng=epoch_start, noise_rng=noise_rng.bit_generator.state,
                     epoch_loss=epoch_loss, epoch_tokens=epoch_tokens)
        _checkpoint(model_dir, tagger, opt, state)

    with _StopRequest() as stop:
        while state["epoch"] < config.epochs and not (dev_data and state["bad_epochs"] >= config.patience):
            epoch = state["epoch"] + 1
            epoch_start = data_rng.bit_generator.state
            batches = list(make_batches(encoded, config.batch_size, rng=data_rng))
            first = state["batch"]
            started = last_save = time.perf_counter()
            total_loss, tokens = state.get("epoch_loss", 0.0), state.get("epoch_tokens", 0)
            bar = tqdm(total=len(batches), initial=first, desc=f"epoch {epoch}", unit="batch",
                       disable=not progress, leave=False, dynamic_ncols=True)
            for i in range(first, len(batches)):
                batch = batches[i]
                tagger.buffer.zero_grad()
                words = batch.words
                if config.singleton_unk > 0:
                    words = tagger.words.replace_singletons(batch.words, config.singleton_unk, noise_rng)
                loss = tagger.net.loss(batch, noise_rng, words)
                if not math.isfinite(loss):
                    raise TrainingDiverged(f"training diverged: loss is {loss} at epoch {epoch}, batch {i + 1} "
                                           f"(step {opt.t + 1}); the last good checkpoint in {model_dir} is intact")
                try:
                    opt.step()
                except FloatingPointError as e:
                    raise TrainingDiverged(f"training diverged at epoch {epoch}, batch {i + 1}: {e}; the last "
                                           f"good checkpoint in {model_dir} is intact") from None
                total_loss += loss
                tokens += batch.n_tokens
                bar.update(1)
                if i % 20 == 0:
                    bar.set_postfix(loss=f"{loss / len(batch.lengths):.3f}",
                                    tok_s=f"{tokens / max(time.perf_counter() - started, 1e-9):.0f}")
                if stop.requested or time.perf_counter() - last_save > checkpoint_seconds:
                    save_state(epoch - 1, i + 1, epoch_start, total_loss, tokens)
                    last_save = time.perf_counter()
                    if stop.requested:
                        bar.close()
                        log(f"interrupted: checkpoint saved in {model_dir} at epoch {epoch}, batch {i + 1}; "
                            f"continue with --resume")
                        return TrainResult(model_dir, "interrupted", epoch - 1, state["best_epoch"],
                                           _best(history, state), history)
            bar.close()
            seconds = time.perf_counter() - started
            row = {"epoch": epoch, "loss": total_loss / len(encoded), "lr": opt.lr, "seconds": round(seconds, 2),
                   "tokens_per_s": round(tokens / max(seconds, 1e-9))}
            if dev_data:
                scores, _ = tagger.evaluate(dev_data, dev_scheme, source="dev")
                row["dev"] = {k: round(scores["overall"][k], 2) for k in ("precision", "recall", "f1")}
            history.append(row)
            f1 = row["dev"]["f1"] if dev_data else float(epoch)
            improved = f1 > state["best_f1"]
            if improved:
                state.update(best_f1=f1, best_epoch=epoch, bad_epochs=0)
                tagger.save_weights(model_dir)
                modelio.write_meta(model_dir, {**tagger.meta, "best_epoch": epoch,
                                               "scores": {"dev": row.get("dev")}})
            else:
                state["bad_epochs"] += 1
            state["batch"] = 0
            save_state(epoch, 0, data_rng.bit_generator.state)
            _write_metrics(model_dir, history)
            dev_text = f"  dev P/R/F1 {row['dev']['precision']:.2f}/{row['dev']['recall']:.2f}/" \
                       f"{row['dev']['f1']:.2f}" if dev_data else ""
            log(f"epoch {epoch}: loss {row['loss']:.4f}  {row['tokens_per_s']} tok/s{dev_text}"
                f"{'  *best*' if improved and dev_data else ''}")
            if dev_data and state["bad_epochs"] >= config.patience:
                status = "early-stopped"
                log(f"early stop: no better dev F1 for {config.patience} epochs (best {state['best_f1']:.2f} "
                    f"at epoch {state['best_epoch']})")
                break
            if stop.requested:
                status = "interrupted"
                break
    return TrainResult(model_dir, status, state["epoch"], state["best_epoch"], _best(history, state), history)


def _best(history: list[dict], state: dict) -> dict | None:
    for row in history:
        if row["epoch"] == state["best_epoch"]:
            return row.get("dev")
    return None
