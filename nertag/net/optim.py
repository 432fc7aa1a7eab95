"""Optimisers over a :class:`~nertag.net.params.ParamBuffer`, updating it strictly in place.

One ``step()``:

1. the learning rate comes from the schedule at the current step, and so does the momentum (Momentum's
   ``mu``, Adam's ``beta1``) when the schedule cycles it (:class:`~nertag.net.schedules.OneCycle`);
2. global-norm gradient clipping scales all gradients if their joint L2 norm exceeds ``clip_norm``;
3. coupled L2 ``g += l2 * p``: the gradient of the penalty ``l2/2 ||p||^2``, added to the gradient (after
   clipping, as PyTorch's ``weight_decay=`` is added after ``clip_grad_norm_``), so adaptive methods rescale
   it like any other gradient;
4. decoupled weight decay ``p -= lr * weight_decay * p`` (Loshchilov & Hutter 2019), outside the gradient,
   so Adam does not rescale it. For plain SGD the two are the same update; for Adam they differ.
   Both act on parameters that declared ``decay=True`` (not biases), and on embedding rows only if
   ``decay_embeddings``;
5. the algorithm's update: on the dense part of the buffer as a few vectorised in-place operations, on
   sparse tables (embeddings) only on the rows the batch touched ("lazy" updates: untouched rows and
   their optimiser state do not change that step).

Optimiser state (step count, slot arrays the size of the buffer) is saved with :meth:`state_dict` and
restored with :meth:`load_state_dict`, for resumable training.
"""
from __future__ import annotations

import numpy as np

from .kernels import select
from .params import ParamBuffer
from .schedules import Constant


class Optimizer:
    """Base class. Subclasses name their slots and implement :meth:`update`."""

    slots: tuple[str, ...] = ()
    cycled: str | None = None  # the attribute a momentum-cycling schedule sets each step (None: no momentum)

    def __init__(self, buffer: ParamBuffer, lr=0.01, *, clip_norm: float | None = None,
                 weight_decay: float = 0.0, l2: float = 0.0, decay_embeddings: bool = False):
        self.buffer = buffer
        self.schedule = Constant(float(lr)) if isinstance(lr, (int, float)) else lr
        self.clip_norm, self.weight_decay, self.decay_embeddings = clip_norm, weight_decay, decay_embeddings
        self.l2 = l2
        self._momentum_at = getattr(self.schedule, "momentum_at", None)
        if self._momentum_at is not None and self._momentum_at(0) is not None and self.cycled is None:
            raise ValueError(f"the schedule cycles momentum, but {type(self).__name__} has none "
                             f"(use Momentum, Nesterov or Adam)")
        self.t = 0  # steps taken
        self.state = {name: np.zeros_like(buffer.data) for name in self.slots}
        self._scratch = np.empty(buffer.n_dense, dtype=buffer.data.dtype)
        self._decay = buffer.decay_mask.astype(buffer.data.dtype)
        self.last_grad_norm = 0.0

    @property
    def lr(self) -> float:
        return self.schedule(self.t)

    def update(self, p: np.ndarray, g: np.ndarray, slots: dict, lr: float, tmp: np.ndarray) -> None:
        """Apply the algorithm in place to parameters ``p`` given gradients ``g`` (same shapes)."""
        raise NotImplementedError

    def step(self) -> None:
        buf, lr = self.buffer, self.lr
        if self.cycled is not None and self._momentum_at is not None:
            momentum = self._momentum_at(self.t)
            if momentum is not None:
                setattr(self, self.cycled, momentum)
        nd = buf.n_dense
        sparse = [(b, buf.touched_rows(b)) for b in buf.sparse]
        self.last_grad_norm = self._global_norm(sparse)
        if not np.isfinite(self.last_grad_norm):
            raise FloatingPointError(f"non-finite gradient at step {self.t + 1}; parameters left unchanged")
        scale = 1.0
        if self.clip_norm is not None and self.last_grad_norm > self.clip_norm:
            scale = self.clip_norm / (self.last_grad_norm + 1e-12)
            buf.grad[:nd] *= scale
        self.t += 1  # before the update: Adam's bias correction counts this step as t
        p, g = buf.data[:nd], buf.grad[:nd]
        if self.l2:
            np.multiply(p, self._decay, out=self._scratch)
            self._scratch *= self.l2
            g += self._scratch
        if self.weight_decay:
            np.multiply(p, self._decay, out=self._scratch)
            self._scratch *= lr * self.weight_decay
            p -= self._scratch
        self.update(p, g, {k: v[:nd] for k, v in self.state.items()}, lr, self._scratch)
        for b, rows in sparse:
            if rows.size:
                self._update_rows(b, rows, lr, scale)

    def _global_norm(self, sparse) -> float:
        dense = self.buffer.grad[: self.buffer.n_dense]
        total = float(np.dot(dense, dense))
        for b, rows in sparse:
            if rows.size:
                g = b.layer.g[b.spec.name][rows]
                total += float(np.vdot(g, g))
        return float(np.sqrt(total))

    def _update_rows(self, b, rows: np.ndarray, lr: float, scale: float) -> None:
        """Lazy update of the touched rows of one sparse table: gather, update, scatter back."""
        table, grad_table = b.layer.p[b.spec.name], b.layer.g[b.spec.name]
        p, g = table[rows], grad_table[rows]
        if scale != 1.0:
            g *= scale
            grad_table[rows] = g
        views = {k: v[b.slice].reshape(b.spec.shape) for k, v in self.state.items()}
        slots = {k: view[rows] for k, view in views.items()}
        if self.l2 and self.decay_embeddings:
            g += self.l2 * p
            grad_table[rows] = g
        if self.weight_decay and self.decay_embeddings:
            p -= lr * self.weight_decay * p
        self.update(p, g, slots, lr, np.empty_like(p))
        table[rows] = p
        for k, view in views.items():
            view[rows] = slots[k]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to save (e.g. in an ``.npz``): the step count and every slot."""
        return {"t": np.array(self.t, dtype=np.int64), **{f"slot.{k}": v for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        expected = {f"slot.{name}" for name in self.state} | {"t"}
        if set(state) != expected:  # another optimiser's state, or a damaged one: refuse rather than guess
            raise ValueError(f"expected the slots {sorted(expected)}, found {sorted(state)}")
        for name, current in self.state.items():
            saved = np.asarray(state[f"slot.{name}"])
            if saved.shape != current.shape:
                raise ValueError(f"optimiser slot {name!r} has shape {saved.shape}, expected {current.shape}")
            current[...] = saved
        self.t = int(state["t"])


class SGD(Optimizer):
    """``p -= lr * g``."""

    def update(self, p, g, slots, lr, tmp):
        np.multiply(g, lr, out=tmp)
        p -= tmp


class Momentum(Optimizer):
    """Heavy-ball momentum ``v = mu v + g; p -= lr v``; with ``nesterov``: ``p -= lr (g + mu v)``."""

    slots = ("velocity",)
    cycled = "momentum"

    def __init__(self, buffer, lr=0.01, momentum: float = 0.9, nesterov: bool = False, **kwargs):
        super().__init__(buffer, lr, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def update(self, p, g, slots, lr, tmp):
        v = slots["velocity"]
        v *= self.momentum
        v += g
        if self.nesterov:
            np.multiply(v, self.momentum, out=tmp)
            tmp += g
        else:
            tmp[...] = v
        tmp *= lr
        p -= tmp


def Nesterov(buffer, lr=0.01, momentum: float = 0.9, **kwargs) -> Momentum:
    """Nesterov accelerated gradient (Sutskever et al. 2013), as momentum with look-ahead."""
    return Momentum(buffer, lr, momentum, nesterov=True, **kwargs)


def _adaptive_step(p, g, G, lr: float, eps: float, tmp) -> None:
    """``p -= lr * g / (sqrt(G) + eps)`` in place, through the scratch array ``tmp``."""
    np.sqrt(G, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    tmp *= lr
    p -= tmp


class AdaGrad(Optimizer):
    """``G += g^2; p -= lr g / (sqrt(G) + eps)`` (Duchi et al. 2011)."""

    slots = ("sum_sq",)

    def __init__(self, buffer, lr=0.01, eps: float = 1e-8, **kwargs):
        super().__init__(buffer, lr, **kwargs)
        self.eps = eps

    def update(self, p, g, slots, lr, tmp):
        G = slots["sum_sq"]
        np.multiply(g, g, out=tmp)
        G += tmp
        _adaptive_step(p, g, G, lr, self.eps, tmp)


class RMSProp(Optimizer):
    """``G = rho G + (1 - rho) g^2; p -= lr g / (sqrt(G) + eps)`` (Tieleman & Hinton 2012)."""

    slots = ("mean_sq",)

    def __init__(self, buffer, lr=0.001, rho: float = 0.9, eps: float = 1e-8, **kwargs):
        super().__init__(buffer, lr, **kwargs)
        self.rho, self.eps = rho, eps

    def update(self, p, g, slots, lr, tmp):
        G = slots["mean_sq"]
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.rho
        G *= self.rho
        G += tmp
        _adaptive_step(p, g, G, lr, self.eps, tmp)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction ``1 - beta^t``, t the 1-based step.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.
    With ``weight_decay`` this is AdamW (decay decoupled from the adaptive step).
    ``kernel``: "cython" (default) makes the update one pass over memory (``_optim.adam_update``), "numpy"
    its twin, ten NumPy passes; both give the same bits.
    """

    slots = ("m", "v")
    cycled = "beta1"  # bias correction then uses the current beta1, as PyTorch's Adam under fastai's cycle

    def __init__(self, buffer, lr=0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, *,
                 kernel: str = "cython", **kwargs):
        super().__init__(buffer, lr, **kwargs)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self._kernels = select("optim", kernel)

    def update(self, p, g, slots, lr, tmp):
        m, v = slots["m"], slots["v"]                              # contiguous: the dense part or row copies
        self._kernels.adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                                  self.beta1, self.beta2, self.eps, lr, self.t)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSProp, "adam": Adam}
