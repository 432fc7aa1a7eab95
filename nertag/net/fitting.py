"""A generic training loop for any network that ends in a scalar loss: :func:`fit`.

One optimiser step is :func:`train_step` (zero the gradients, loss and backward, refuse a non-finite
loss, then ``optimizer.step()``: schedule, clipping, penalties and the update). The tagger's training
(:mod:`nertag.train`) takes its steps through the same function, and its early stopping through
:class:`Patience`; :func:`fit` adds what a small network needs around them: batching, seeded shuffling,
reports, held-out evaluation, early stopping and callbacks.

Losses are sums (:class:`~nertag.net.layer.OutputLayer`). With ``mean=True`` (the default) :func:`fit`
divides by the batch size in one place: the loss gradient ``dL/dY`` is scaled by ``1 / batch size`` before
backward, so the parameters follow the gradient of the batch's mean loss, and the learning rate does not
depend on the batch size. Reported losses are always means per example (or per target row).

Reproducibility: epoch ``e`` shuffles with ``default_rng([seed, e])`` and draws its training noise
(dropout) from ``default_rng([seed, e, 1])``, so a run continued with ``initial_epoch=e`` from a network
and optimiser saved after epoch ``e`` (:mod:`nertag.net.saving`) takes the very steps of one run.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .layer import Layer, OutputLayer
from .optim import SGD, Optimizer
from .params import ParamBuffer


class NonFiniteLoss(FloatingPointError):
    """The loss of a step is NaN or infinite; the parameters were left unchanged."""

    def __init__(self, loss: float):
        super().__init__(f"the loss is {loss}")
        self.loss = loss


class NonFiniteGradient(FloatingPointError):
    """A gradient of a step is NaN or infinite; the parameters were left unchanged."""


def train_step(buffer: ParamBuffer, optimizer: Optimizer, loss_and_backward: Callable[[], float]) -> float:
    """One optimiser step; returns the loss ``loss_and_backward()`` reported.

    ``loss_and_backward`` runs forward and backward, accumulating into the gradients this function has just
    zeroed. Raises :class:`NonFiniteLoss` or :class:`NonFiniteGradient` (the parameters then unchanged);
    any exception of ``loss_and_backward`` passes through.
    """
    buffer.zero_grad()
    loss = loss_and_backward()
    if not math.isfinite(loss):
        raise NonFiniteLoss(loss)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            optimizer.step()
    except FloatingPointError as e:
        raise NonFiniteGradient(str(e)) from None
    return loss


@dataclass
class Patience:
    """Early-stopping bookkeeping: the best score so far, its epoch, and epochs without improvement.

    ``maximize``: higher scores are better (a metric such as F1); False for losses. ``floor``: a score must
    also beat it to count (the tagger keeps no model whose dev F1 is 0).
    """

    patience: int | None
    maximize: bool = True
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    floor: float | None = None

    def record(self, epoch: int, score: float) -> bool:
        """Count epoch ``epoch``'s score; True when it is a new best."""
        bar = self.best
        if self.floor is not None:
            bar = self.floor if bar is None else (max(bar, self.floor) if self.maximize else min(bar, self.floor))
        improved = bar is None or (score > bar if self.maximize else score < bar)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience


@dataclass
class FitResult:
    """What :func:`fit` did.

    ``history``: one row per epoch (``epoch``, ``loss``, ``lr``, and with held-out data ``val_loss`` and
    ``val_metric``); ``reports``: the periodic training-loss reports (``step``, ``loss``);
    ``best_epoch`` / ``best``: the epoch whose parameters the network holds at the end when early stopping
    restored them, and its monitored value; ``stopped``: "finished", "early-stopped" or "callback".
    """

    history: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best: float | None = None
    stopped: str = "finished"
    steps: int = 0


def minibatches(n: int, batch_size: int | None, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index arrays covering ``range(n)`` once: in a random order with ``rng``, else in order; one batch of
    all ``n`` when ``batch_size`` is None (full-batch training)."""
    order = np.arange(n) if rng is None else rng.permutation(n)
    size = n if batch_size is None else batch_size
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    return [order[i: i + size] for i in range(0, n, size)]


class _Data:
    """Inputs, targets and optional lengths with their example axis, sliced into batches."""

    def __init__(self, X, y, lengths, axis: int, what: str):
        self.X, self.y = np.asarray(X), np.asarray(y)
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.axis = axis
        self.n = self.X.shape[axis]
        if self.y.shape[axis] != self.n or (self.lengths is not None and self.lengths.shape != (self.n,)):
            raise ValueError(f"{what}: inputs hold {self.n} examples along axis {axis}, targets "
                             f"{self.y.shape[axis]}" + ("" if self.lengths is None else f", lengths {self.lengths.shape}"))

    def batch(self, idx: np.ndarray):
        lengths = None if self.lengths is None else self.lengths[idx]
        return np.take(self.X, idx, axis=self.axis), np.take(self.y, idx, axis=self.axis), lengths


Callback = Callable[[str, dict], "bool | None"]


def fit(network: Layer, loss: OutputLayer, buffer: ParamBuffer, X, y, lengths=None, *,
        optimizer: Optimizer | None = None, epochs: int = 10, initial_epoch: int = 0,
        batch_size: int | None = 32, batch_axis: int = 0, shuffle: bool = True, seed: int = 0, mean: bool = True,
        report_every: int | None = None, validation: tuple | None = None,
        metric: Callable[[np.ndarray, np.ndarray], float] | None = None, eval_every: int = 1,
        monitor: str = "val_loss", patience: int | None = None, restore_best: bool = True,
        callbacks: Sequence[Callback] = (), log: Callable[[str], None] | None = None) -> FitResult:
    """Train ``network`` followed by the output layer ``loss`` on ``(X, y)``.

    Parameters
    ----------
    network : Layer
        Maps a batch of inputs to the scores ``loss`` takes (a :class:`Sequential`, say).
    loss : OutputLayer
        Its ``loss(Y, y, lengths)`` is the summed loss of a batch and ``dL/dY``.
    buffer : ParamBuffer
        The parameters of ``network`` (and of ``loss``, if it has any): bound to one buffer.
    X, y : arrays
        Inputs and targets with the examples along ``batch_axis`` (0; 1 for time-major ``(T, B, ...)``).
    lengths : array (N,), optional
        Real lengths of padded sequences, sliced with the batches.
    optimizer : Optimizer, default ``SGD(buffer, 0.1)``
        Any optimiser, with its own schedule, clipping (``clip_norm``) and penalties.
    epochs, initial_epoch : int
        Train epochs ``initial_epoch + 1 .. epochs`` (continue a saved run with ``initial_epoch``).
    batch_size : int or None
        Examples per step; None for full-batch training (one step per epoch).
    shuffle, seed : seeded reshuffling each epoch (see the module notes).
    mean : bool
        Divide the gradient by the batch size (the mean loss); False follows the summed loss.
    report_every : int, optional
        Log and record the mean training loss every this many steps.
    validation : (X, y) or (X, y, lengths), optional
        Held-out data, evaluated every ``eval_every`` epochs in prediction mode.
    metric : callable(scores, y) -> float, optional
        A user metric on the held-out scores (higher is better), recorded as ``val_metric``.
    monitor : {"val_loss", "val_metric"}
        What early stopping watches (lower loss or higher metric is better).
    patience : int, optional
        Stop after this many evaluations without improvement; with ``restore_best`` the parameters of the
        best evaluation are put back in the buffer at the end.
    callbacks : callables ``callback(event, info)``
        Called with "step" (``step``, ``epoch``, ``loss``: the batch's mean loss) and "epoch" (the history
        row) events; a callback returning True stops training after that event.
    log : callable(str), optional
        Where reports go (default: nowhere).

    Returns
    -------
    FitResult
    """
    optimizer = optimizer or SGD(buffer, 0.1)
    log = log or (lambda message: None)
    data = _Data(X, y, lengths, batch_axis, "training data")
    held_out = None
    if validation is not None:
        vX, vy, *vlengths = validation
        held_out = _Data(vX, vy, vlengths[0] if vlengths else None, batch_axis, "held-out data")
    if monitor not in ("val_loss", "val_metric"):
        raise ValueError(f"monitor must be 'val_loss' or 'val_metric', got {monitor!r}")
    if patience is not None and held_out is None:
        raise ValueError("early stopping (patience) needs held-out data: pass validation=(X, y)")
    if monitor == "val_metric" and metric is None:
        raise ValueError("monitor='val_metric' needs a metric")
    watch = Patience(patience, maximize=monitor == "val_metric")
    best_params = None
    result = FitResult()
    window_loss, window_count = 0.0, 0

    for epoch in range(initial_epoch + 1, epochs + 1):
        data_rng = np.random.default_rng([seed, epoch]) if shuffle else None
        noise_rng = np.random.default_rng([seed, epoch, 1])
        epoch_loss = 0.0
        for idx in minibatches(data.n, batch_size, data_rng):
            Xb, yb, lb = data.batch(idx)
            scale = 1.0 / len(idx) if mean else 1.0

            def loss_and_backward():
                Y, backprop = network.forward(Xb, lb, noise_rng)
                value, dY = loss.loss(Y, yb, lb)
                backprop(dY * scale if mean else dY)  # the one division by the batch size
                return value

            value = train_step(buffer, optimizer, loss_and_backward)
            result.steps += 1
            epoch_loss += value
            window_loss, window_count = window_loss + value, window_count + len(idx)
            if report_every and result.steps % report_every == 0:
                report = {"step": result.steps, "epoch": epoch, "loss": window_loss / window_count}
                result.reports.append(report)
                log(f"step {report['step']} (epoch {epoch}): loss {report['loss']:.4f}")
                window_loss, window_count = 0.0, 0
            if any(cb("step", {"step": result.steps, "epoch": epoch, "loss": value / len(idx)}) for cb in callbacks):
                result.stopped = "callback"
                break
        row = {"epoch": epoch, "loss": epoch_loss / data.n, "lr": optimizer.lr}
        if held_out is not None and (epoch - initial_epoch) % eval_every == 0:
            row.update(evaluate(network, loss, held_out, batch_size, metric))
            if watch.record(epoch, row[monitor]) and restore_best and patience is not None:
                best_params = buffer.data.copy()
        result.history.append(row)
        log(f"epoch {epoch}: loss {row['loss']:.4f}" + "".join(
            f"  {k} {row[k]:.4f}" for k in ("val_loss", "val_metric") if k in row))
        if result.stopped == "callback" or any(cb("epoch", row) for cb in callbacks):
            result.stopped = "callback"
            break
        if watch.should_stop:
            result.stopped = "early-stopped"
            log(f"early stop: no better {monitor} for {patience} evaluations (best {watch.best:.4f} at epoch "
                f"{watch.best_epoch})")
            break
    if best_params is not None and patience is not None:
        buffer.data[...] = best_params  # the best evaluated parameters, not the last ones
    result.best_epoch, result.best = watch.best_epoch, watch.best
    return result


def evaluate(network: Layer, loss: OutputLayer, held_out, batch_size: int | None = None,
             metric: Callable[[np.ndarray, np.ndarray], float] | None = None, batch_axis: int = 0) -> dict:
    """``val_loss`` (mean per example) and, with a metric, ``val_metric`` of ``held_out`` ((X, y) or
    (X, y, lengths)) in prediction mode, in batches of ``batch_size``."""
    if not isinstance(held_out, _Data):
        vX, vy, *vlengths = held_out
        held_out = _Data(vX, vy, vlengths[0] if vlengths else None, batch_axis, "held-out data")
    total, scores = 0.0, []
    for idx in minibatches(held_out.n, batch_size, None):
        Xb, yb, lb = held_out.batch(idx)
        Y = network(Xb, lb)
        total += loss.loss(Y, yb, lb)[0]
        scores.append(Y)
    out = {"val_loss": total / max(held_out.n, 1)}
    if metric is not None:
        out["val_metric"] = float(metric(np.concatenate(scores, axis=held_out.axis), held_out.y))
    return out
