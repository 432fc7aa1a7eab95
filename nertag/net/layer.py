"""The layer contract every part of the network follows.

A layer declares its parameters by name, shape and initialiser; it owns no arrays until a
:class:`~nertag.net.params.ParamBuffer` binds it, handing it views ``layer.p[name]`` into the one
flat parameter buffer and ``layer.g[name]`` into the one flat gradient buffer.

Conventions
-----------
* Sequence tensors are **time-major**: ``X`` of shape ``(T, B, D)`` with ``lengths`` of shape ``(B,)``;
  position ``t`` of sequence ``b`` is real when ``t < lengths[b]`` and padding otherwise. ``lengths`` is
  a :class:`~nertag.net.padded.Padded` inside a network (validated once, when the batch was made, and
  trusted), or a plain array / None from a user (validated by the layer it enters). Layers that
  work on single vectors (dense, dropout) accept any leading shape ``(..., D)`` and ignore ``lengths``.
* ``forward(X, lengths=None, rng=None) -> (Y, backprop)``. ``rng`` is the random generator for
  training-time noise (dropout); ``rng=None`` means prediction, so prediction can never be noisy.
  Everything backward needs is captured by the ``backprop`` closure: layers hold no state between calls.
* ``backprop(dY) -> dX`` returns dL/dX and **accumulates** dL/dparams into ``layer.g`` (``+=``). Only
  :meth:`ParamBuffer.zero_grad` and the optimiser write gradients outright. A layer whose input is not
  differentiable (token ids) returns ``None``.
* An output layer (:class:`OutputLayer`) maps scores and targets to a scalar loss: the **sum** over all
  real positions of the batch (callers divide by the batch size if they want a mean).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .padded import sequence_mask  # noqa: F401  (re-exported: part of the layer toolkit)

Initializer = Callable[["np.random.Generator", tuple], np.ndarray]  # a string: numpy.random loads lazily
Backprop = Callable[[np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class ParamSpec:
    """A parameter a layer asks for.

    ``decay``: whether decoupled weight decay applies (biases say False). ``sparse``: rows are
    updated only where the batch touched them (embedding tables); the layer's backward marks the rows
    it wrote with :meth:`Layer.touch`, in a row mask that belongs to the buffer's gradient.
    """

    name: str
    shape: tuple
    init: Initializer
    decay: bool = True
    sparse: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class Layer:
    """Base class: parameter declarations, child layers, and the views a buffer binds."""

    def __init__(self) -> None:
        self.specs: list[ParamSpec] = []
        self.children: list[Layer] = []
        self.p: dict[str, np.ndarray] = {}
        self.g: dict[str, np.ndarray] = {}
        # Sparse params only: bool (n_rows,) views of the buffer's gradient row mask, True where this
        # step's gradient has been written. Owned (and cleared) by the buffer, like ``g``.
        self.g_rows: dict[str, np.ndarray] = {}

    def param(self, name: str, shape, init: Initializer, *, decay: bool = True, sparse: bool = False) -> None:
        """Declare a parameter; its array exists once a :class:`ParamBuffer` binds the layer."""
        self.specs.append(ParamSpec(name, tuple(int(s) for s in shape), init, decay, sparse))

    def add(self, child: "Layer") -> "Layer":
        """Register a child layer (its parameters join this layer's buffer) and return it."""
        self.children.append(child)
        return child

    def walk(self):
        """This layer and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def n_params(self) -> int:
        """Closed-form parameter count of this layer and its children."""
        return sum(spec.size for layer in self.walk() for spec in layer.specs)

    def touch(self, name: str, rows: np.ndarray) -> None:
        """Mark rows ``(n,)`` of sparse parameter ``name`` whose gradient backward has written."""
        self.g_rows[name][rows] = True

    def forward(self, X, lengths=None, rng=None) -> tuple[np.ndarray, Backprop]:
        raise NotImplementedError

    def __call__(self, X, lengths=None) -> np.ndarray:
        """Prediction: forward without noise, output only."""
        return self.forward(X, lengths, None)[0]


class OutputLayer(Layer):
    """A layer that ends the network: a loss for training and a decoder for prediction."""

    def loss(self, X: np.ndarray, target: np.ndarray, lengths=None) -> tuple[float, np.ndarray]:
        """Return the summed loss and dL/dX, accumulating dL/dparams into ``self.g``."""
        raise NotImplementedError

    def predict(self, X: np.ndarray, lengths=None) -> np.ndarray:
        raise NotImplementedError

    def forward(self, X, lengths=None, rng=None):
        # An output layer passes scores through unchanged, so it can also sit inside a Sequential.
        return X, lambda dY: dY
