"""One contiguous buffer for all parameters of a network, one for all gradients.

The buffer is laid out as ``[dense parameters | sparse parameters]``: the dense part is one slice that
optimisers update with a handful of vectorised in-place operations; sparse parameters (embedding
tables) follow, and are updated only on the rows a batch touched. Which rows those are is part of the
gradient: a boolean row mask per sparse table (``grad_rows``), set by the layer's backward and cleared
by :meth:`ParamBuffer.zero_grad` on exactly those rows, so no step costs a pass over a whole table.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layer import Layer, ParamSpec


@dataclass(frozen=True)
class Binding:
    """Where one parameter of one layer lives in the flat buffers."""

    layer: Layer
    spec: ParamSpec
    offset: int

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.spec.size)


class ParamBuffer:
    """Allocate and bind the parameters of ``root`` and all its descendant layers.

    Parameters
    ----------
    root : Layer
        The network; every layer under it gets views ``layer.p[name]`` / ``layer.g[name]``.
    dtype : numpy dtype, float32 or float64
    seed : int or numpy Generator
        Random source of the initialisers.
    initialise : bool, default True
        False leaves the parameters zero, for a caller that overwrites all of them (loading saved weights:
        the orthogonal initialisers would cost a model load tens of milliseconds for nothing).

    Attributes
    ----------
    data, grad : ndarray, shape (n,)
        The flat parameter and gradient buffers.
    n_dense : int
        ``data[:n_dense]`` holds every dense parameter.
    decay_mask : ndarray of bool, shape (n_dense,)
        Which dense entries take weight decay (False for biases and other ``decay=False`` params).
    grad_rows : ndarray of bool, shape (sum of the sparse tables' rows,)
        True on the rows of sparse tables whose gradient this step has written (views ``layer.g_rows``).
    """

    def __init__(self, root: Layer, dtype=np.float32, seed=0, *, initialise: bool = True):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"parameters must be float32 or float64, got {dtype}")
        rng = None
        if initialise:  # (np.random, ~10 ms of imports, is not needed to load saved weights)
            rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.root = root
        pairs = [(layer, spec) for layer in root.walk() for spec in layer.specs]
        ordered = [pair for pair in pairs if not pair[1].sparse] + [pair for pair in pairs if pair[1].sparse]
        self.bindings: list[Binding] = []
        offset = 0
        for layer, spec in ordered:
            self.bindings.append(Binding(layer, spec, offset))
            offset += spec.size
        self.n_dense = sum(b.spec.size for b in self.bindings if not b.spec.sparse)
        self.data = np.zeros(offset, dtype=dtype)
        self.grad = np.zeros(offset, dtype=dtype)
        self.decay_mask = np.zeros(self.n_dense, dtype=bool)
        for b in self.bindings:
            if b.spec.name in b.layer.p:
                raise ValueError(f"{type(b.layer).__name__} is bound twice: give each ParamBuffer its own layers")
            b.layer.p[b.spec.name] = self.data[b.slice].reshape(b.spec.shape)
            b.layer.g[b.spec.name] = self.grad[b.slice].reshape(b.spec.shape)
            if initialise:
                b.layer.p[b.spec.name][...] = b.spec.init(rng, b.spec.shape)
            if not b.spec.sparse:
                self.decay_mask[b.slice] = b.spec.decay
        self.sparse = [b for b in self.bindings if b.spec.sparse]
        self.grad_rows = np.zeros(sum(b.spec.shape[0] for b in self.sparse), dtype=bool)
        start = 0
        for b in self.sparse:
            b.layer.g_rows[b.spec.name] = self.grad_rows[start: start + b.spec.shape[0]]
            start += b.spec.shape[0]

    def __len__(self) -> int:
        return self.data.size

    def touched_rows(self, binding: Binding) -> np.ndarray:
        """Sorted rows (int64) of a sparse parameter that this step's backward touched."""
        return np.flatnonzero(binding.layer.g_rows[binding.spec.name])

    def zero_grad(self) -> None:
        """Reset the gradients: the dense part outright, sparse tables only on the rows touched."""
        self.grad[: self.n_dense] = 0
        for b in self.sparse:
            rows = self.touched_rows(b)
            if rows.size:
                b.layer.g[b.spec.name][rows] = 0
                b.layer.g_rows[b.spec.name][rows] = False

    def named(self) -> dict[str, np.ndarray]:
        """Parameter views keyed by a stable path ``"<index>.<Layer>.<name>"`` (for saving and reading)."""
        index = {id(layer): i for i, layer in enumerate(self.root.walk())}
        return {
            f"{index[id(b.layer)]}.{type(b.layer).__name__}.{b.spec.name}": b.layer.p[b.spec.name]
            for b in self.bindings
        }
