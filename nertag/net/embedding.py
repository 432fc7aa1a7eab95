"""Embedding lookup whose gradient touches only the rows a batch used."""
from __future__ import annotations

import numpy as np

from . import init as initializers
from .kernels import select
from .layer import Layer
from .padded import sequence_mask


class Embedding(Layer):
    """Map integer ids ``(...)`` to vectors ``(..., dim)``.

    Parameters
    ----------
    n_rows : int
        Vocabulary size; id 0 is conventionally padding.
    dim : int
    init : initialiser, optional
        Defaults to U(-sqrt(3/dim), sqrt(3/dim)); pretrained vectors are copied in after binding.
    kernel : {"cython", "numpy"}
        The gradient scatter-add: ``_embedding.pyx`` (default) or its twin in ``embedding_numpy``.

    Notes
    -----
    ``W (n_rows, dim)`` is a sparse parameter: backward adds ``dY`` into the rows of the ids at real
    positions only (``t < lengths[b]`` for a time-major ``(T, B)`` batch) and marks them
    (:meth:`Layer.touch`), so optimisers update just those rows.
    """

    def __init__(self, n_rows: int, dim: int, init=initializers.embedding_uniform, *, kernel: str = "cython"):
        super().__init__()
        self._kernels = select("embedding", kernel)
        self.n_rows, self.dim = n_rows, dim
        self.param("W", (n_rows, dim), init, decay=False, sparse=True)

    def forward(self, ids, lengths=None, rng=None):
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"Embedding expects integer ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_rows):
            raise ValueError(f"ids must lie in 0..{self.n_rows - 1}, got {ids.min()}..{ids.max()}")
        W = self.p["W"]
        Y = W[ids]                                        # ids.shape + (dim,)

        def backprop(dY):
            if lengths is None:
                used, grads = ids.reshape(-1), dY.reshape(-1, self.dim)
            else:
                mask = sequence_mask(lengths, ids.shape[0])
                used, grads = ids[mask], dY[mask]         # (n_real,), (n_real, dim)
            used = np.ascontiguousarray(used, dtype=np.int64)
            self._kernels.scatter_add_rows(self.g["W"], used, np.ascontiguousarray(grads, dtype=W.dtype))
            self.touch("W", used)
            return None

        return Y, backprop
