"""Dense (affine) layer with an activation: ``Y = act(X @ W + b)``.

Notation: ``X (N, n_in)``, ``Z = X W + b (N, n_out)``, ``Y = f(Z)``. Elementwise activations have a
diagonal Jacobian, so ``dZ = dY * f'(Y)``. Softmax mixes the row: ``Y_j = exp(Z_j) / sum_k exp(Z_k)``,
``dY_i/dZ_j = Y_i (delta_ij - Y_j)``, hence ``dZ = Y * (dY - sum_i dY_i Y_i)``, one row at a time
(the vector-Jacobian product, without forming the ``(n_out, n_out)`` Jacobian).
"""
from __future__ import annotations

import numpy as np

from . import init
from .layer import Layer

# Each activation: forward f(Z), and f'(Z) written in terms of Y = f(Z) so Z need not be kept.
ACTIVATIONS = {
    "identity": (lambda Z: Z, None),
    "tanh": (np.tanh, lambda Y: 1.0 - Y * Y),
    "sigmoid": (lambda Z: 0.5 * (1.0 + np.tanh(0.5 * Z)), lambda Y: Y * (1.0 - Y)),
    "relu": (lambda Z: np.maximum(Z, 0), lambda Y: (Y > 0).astype(Y.dtype)),
}



def softmax(Z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in place in ``Z`` (shifted by the row maximum: no overflow)."""
    Z -= Z.max(axis=-1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=-1, keepdims=True)
    return Z


def softmax_backward(Y: np.ndarray, dY: np.ndarray) -> np.ndarray:
    """``dZ = Y * (dY - sum(dY * Y))`` per row: softmax's Jacobian applied to ``dY``."""
    return Y * (dY - np.sum(dY * Y, axis=-1, keepdims=True))


# Activations whose Jacobian is not diagonal: forward f(Z), and backward (Y, dY) -> dZ.
ROW_ACTIVATIONS = {"softmax": (softmax, softmax_backward)}


class Dense(Layer):
    """Affine map plus activation, applied to the last axis of any ``(..., n_in)`` input.

    Parameters
    ----------
    n_in, n_out : int
    activation : {"identity", "tanh", "sigmoid", "relu", "softmax"}
        Softmax gives probabilities over the last axis; for a classifier's training prefer "identity" with
        :class:`~nertag.net.losses.SoftmaxCrossEntropy`, which fuses the two stably.

    Notes
    -----
    Parameters: ``W (n_in, n_out)`` (Glorot uniform) and ``b (n_out,)`` (zeros, no weight decay).
    Backward: ``dZ = dY * f'(Y)`` (softmax: ``dZ = Y * (dY - sum(dY * Y))``), ``dW += X^T dZ``,
    ``db += sum(dZ)``, ``dX = dZ W^T``.
    Padding positions are transformed like any others; losses and recurrent layers ignore them.
    """

    def __init__(self, n_in: int, n_out: int, activation: str = "identity"):
        super().__init__()
        if activation not in ACTIVATIONS and activation not in ROW_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS | ROW_ACTIVATIONS)}, got {activation!r}")
        self.n_in, self.n_out, self.activation = n_in, n_out, activation
        self.param("W", (n_in, n_out), init.glorot_uniform)
        self.param("b", (n_out,), init.zeros, decay=False)

    def forward(self, X, lengths=None, rng=None):
        if X.shape[-1] != self.n_in:
            raise ValueError(f"Dense expects inputs with last axis {self.n_in}, got shape {X.shape}")
        row = self.activation in ROW_ACTIVATIONS
        f, df = (ROW_ACTIVATIONS if row else ACTIVATIONS)[self.activation]
        W, b = self.p["W"], self.p["b"]
        X2 = X.reshape(-1, self.n_in)                    # (N, n_in)
        Z = X2 @ W                                       # (N, n_out)
        Z += b                                           # in place: no second (N, n_out) array
        Y2 = f(Z)

        def backprop(dY):
            dZ = dY.reshape(-1, self.n_out)
            if row:
                dZ = df(Y2, dZ)
            elif df is not None:
                dZ = dZ * df(Y2)
            self.g["W"] += X2.T @ dZ
            self.g["b"] += dZ.sum(axis=0)
            return (dZ @ W.T).reshape(X.shape)

        return Y2.reshape(X.shape[:-1] + (self.n_out,)), backprop
