"""Parameter initialisers: ``init(rng, shape) -> ndarray``."""
from __future__ import annotations

import numpy as np


def zeros(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.zeros(shape)


def glorot_uniform(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a), a = sqrt(6 / (fan_in + fan_out)) over the last two axes."""
    fan_in, fan_out = (shape[-2], shape[-1]) if len(shape) >= 2 else (shape[0], shape[0])
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape)


def orthogonal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Orthogonal columns blocks (Saxe et al. 2014) for recurrent weights of shape (..., H, k*H)."""
    rows, cols = shape[-2], shape[-1]
    blocks = []
    for _ in range(int(np.ceil(cols / rows))):
        q, r = np.linalg.qr(rng.standard_normal((rows, rows)))
        blocks.append(q * np.sign(np.diag(r)))
    return np.concatenate(blocks, axis=1)[:, :cols].reshape(shape)


def embedding_uniform(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """U(-sqrt(3/E), sqrt(3/E)): unit variance per row, as used for random word embeddings."""
    a = np.sqrt(3.0 / shape[-1])
    return rng.uniform(-a, a, size=shape)
