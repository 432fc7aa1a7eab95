"""NumPy twin of the ``_embedding.pyx`` kernel: same function, same signature, same numbers."""
from __future__ import annotations

import numpy as np


def scatter_add_rows(table: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """``table[ids[i]] += rows[i]`` for every i, repeated ids accumulating.

    Parameters
    ----------
    table : ndarray, shape (V, D), C-contiguous; updated in place
    ids : ndarray of int64, shape (n,), values in 0..V-1
    rows : ndarray, shape (n, D), dtype of ``table``
    """
    np.add.at(table, ids, rows)
