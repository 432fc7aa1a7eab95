"""Per-token output layers without parameters: softmax cross-entropy and squared error.

Both accept time-major padded batches ``(T, B, K)`` with ``lengths (B,)`` (padding ignored: no loss,
zero gradient) or unpadded ``(N, K)`` inputs with ``lengths=None``. Losses are sums over real positions.
"""
from __future__ import annotations

import numpy as np

from .layer import OutputLayer
from .padded import sequence_mask


def _real_positions(X: np.ndarray, lengths) -> np.ndarray | None:
    """Mask of shape X.shape[:2] for a padded batch, or None when every position is real."""
    return None if lengths is None else sequence_mask(lengths, X.shape[0])


def log_softmax(X: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    shifted = X - X.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class SoftmaxCrossEntropy(OutputLayer):
    """Softmax over the last axis, negative log-likelihood of integer targets.

    Notes
    -----
    ``L = -sum_{real t} log softmax(X_t)[y_t]``; ``dL/dX_t = softmax(X_t) - onehot(y_t)`` at real
    positions, 0 at padding.
    """

    def loss(self, X, target, lengths=None):
        target = np.asarray(target)
        if target.shape != X.shape[:-1]:
            raise ValueError(f"targets must have shape {X.shape[:-1]} for scores {X.shape}, got {target.shape}")
        logp = log_softmax(X)                                              # (..., K)
        picked = np.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
        dX = np.exp(logp)
        np.put_along_axis(dX, target[..., None], np.take_along_axis(dX, target[..., None], -1) - 1.0, -1)
        mask = _real_positions(X, lengths)
        if mask is not None:
            picked = picked[mask]
            dX *= mask[..., None]
        return float(-picked.sum()), dX

    def predict(self, X, lengths=None):
        """Most probable class per position (padding positions get 0)."""
        best = X.argmax(axis=-1)
        mask = _real_positions(X, lengths)
        return best if mask is None else np.where(mask, best, 0)


class SquaredError(OutputLayer):
    """``L = 1/2 sum_{real positions} ||X - target||^2``; ``dL/dX = X - target`` (0 at padding)."""

    def loss(self, X, target, lengths=None):
        target = np.asarray(target, dtype=X.dtype)
        if target.shape != X.shape:
            raise ValueError(f"targets must have the shape of the outputs {X.shape}, got {target.shape}")
        dX = X - target
        mask = _real_positions(X, lengths)
        if mask is not None:
            dX *= mask.reshape(mask.shape + (1,) * (X.ndim - 2))
        return float(0.5 * np.sum(dX * dX)), dX

    def predict(self, X, lengths=None):
        return X
