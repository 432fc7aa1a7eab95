"""NumPy twin of the ``_optim.pyx`` kernels: same functions, same signatures, the same bits.

Each operation is one NumPy pass through a scratch array; the kernels fuse the passes into one loop with
the same roundings (the scalars are rounded to the arrays' dtype, as NumPy does with Python floats).
"""
from __future__ import annotations

import numpy as np


def adam_update(p, g, m, v, beta1: float, beta2: float, eps: float, lr: float, t: int) -> None:
    """One Adam step (Kingma & Ba 2015) in place, 1-based step ``t``.

    Parameters
    ----------
    p, g, m, v : ndarray, shape (n,)
        Parameters (updated), gradients, first and second moments (updated); one dtype, contiguous.
    beta1, beta2, eps, lr : float
    t : int

    Notes
    -----
    ``m = b1 m + (1 - b1) g``,  ``v = b2 v + (1 - b2) g^2``,
    ``p -= m / (sqrt(v) / sqrt(1 - b2^t) + eps) * lr / (1 - b1^t)``.
    """
    tmp = np.empty_like(p)
    np.multiply(g, 1.0 - beta1, out=tmp)
    m *= beta1
    m += tmp
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - beta2
    v *= beta2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp *= 1.0 / np.sqrt(1.0 - beta2 ** t)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr / (1.0 - beta1 ** t)
    p -= tmp


def ema_update(average, x, weight: float) -> None:
    """``average += (x - average) * weight`` in place; ``average``, ``x`` (n,) of one dtype."""
    tmp = np.subtract(x, average)
    tmp *= weight
    average += tmp
