"""Inverted dropout: zero each unit with probability ``rate`` in training, scale the rest by 1/(1-rate)."""
from __future__ import annotations

from .layer import Layer


class Dropout(Layer):
    """Inverted dropout (Srivastava et al. 2014); the identity at prediction (``rng=None``).

    Parameters
    ----------
    rate : float in [0, 1)
        Probability of dropping a unit.
    """

    def __init__(self, rate: float):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate

    def forward(self, X, lengths=None, rng=None):
        if rng is None or self.rate == 0.0:
            return X, lambda dY: dY
        mask = (rng.random(X.shape) >= self.rate).astype(X.dtype) * (1.0 / (1.0 - self.rate))  # same shape as X
        return X * mask, lambda dY: dY * mask
