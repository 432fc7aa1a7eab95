"""One-dimensional convolution over padded time-major sequences, and max-over-time pooling.

Together they make the character encoder of Ma & Hovy (2016): ``Sequential(Conv1D(Dc, 30, 3, "tanh"),
MaxOverTime())`` maps the characters of N words, ``(C, N, Dc)`` with a Padded layout of word lengths, to one
``(N, 30)`` vector per word.

Notation
--------
T, B, D, F     padded length, batch size, input size, number of filters;  L_b the length of sequence b
k, p           window, and zero padding on the left, p = (k - 1) // 2 (k - 1 - p on the right)
X (T, B, D)    inputs;  X~[t, b] = X[t, b] for 0 <= t < L_b and 0 otherwise (zeros *inside* each sequence:
               what lies beyond L_b in the padded batch is never read)
W (k, D, F), b (F,)   filter bank and bias;  W2 = W reshaped (k D, F)
Z[t] = b + sum_j X~[t + j - p] W[j]     (F,)  for the real positions t < L_b of each sequence b
Y[t] = f(Z[t]),  f = tanh or identity; Y = 0 at padding (t >= L_b)
Max over time:  M[b] = max_{t < L_b} Y[t, b]   (F,), a[b] = its argmax (the first, on ties)

A sequence shorter than the window is still defined: its missing neighbours are zeros like the padding at
the ends. The forward pass gathers, for the N real positions n = (t, b), the k rows X~[t + j - p, b] into
``Xc (N, k D)`` (im2col) and multiplies once: ``Z = Xc W2 + b`` (one GEMM over real positions only).

Backward, on the real positions:
  1. dZ = dY * f'(Y)                            through the activation
  2. dW2 += Xc^T dZ,  db += sum_n dZ[n]          one GEMM
  3. dXc = dZ W2^T                              (N, k D)
  4. dX[t + j - p, b] += dXc[n, j]  for j = 0 .. k - 1, inside the sequence (scatter-add of im2col)
Max over time: dY[t, b, f] = dM[b, f] where t = a[b, f], 0 elsewhere (padding never wins, so never gets any).

References
----------
Ma, Hovy (2016). End-to-end sequence labeling via bi-directional LSTM-CNNs-CRF. ACL.
Collobert, Weston, Bottou, Karlen, Kavukcuoglu, Kuksa (2011). Natural language processing (almost) from
scratch. JMLR.
"""
from __future__ import annotations

import numpy as np

from . import init
from .dense import ACTIVATIONS
from .layer import Layer
from .padded import as_padded


def conv_glorot_uniform(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Glorot uniform for a filter bank ``(k, D, F)``: fan-in ``k D``, fan-out ``k F``."""
    k, D, F = shape
    a = np.sqrt(6.0 / (k * D + k * F))
    return rng.uniform(-a, a, size=shape)


class Conv1D(Layer):
    """Convolution over time of padded time-major sequences, zero-padded inside each sequence.

    Parameters
    ----------
    n_in, n_filters : int
        Input size D and number of filters F.
    window : int
        Window k (at least 1); ``(k - 1) // 2`` zeros pad each sequence on the left, ``k - 1 - (k - 1) // 2``
        on the right (one on each side for Ma & Hovy's k = 3).
    activation : {"tanh", "identity", "sigmoid", "relu"}
        Applied to each output; Ma & Hovy use tanh.

    Notes
    -----
    Equations and the numbered backward steps are in the module docstring. Parameters: ``W (k, D, F)``
    Glorot uniform with fan-in k D, ``b (F,)`` zeros without weight decay; ``k D F + F`` in all.
    ``forward(X (T, B, D), lengths) -> Y (T, B, F)``, 0 at padding; padding gets exactly zero gradient.

    References
    ----------
    Ma & Hovy (2016), ACL.
    """

    def __init__(self, n_in: int, n_filters: int, window: int = 3, activation: str = "tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.n_in, self.n_filters, self.window, self.activation = n_in, n_filters, window, activation
        self.pad = (window - 1) // 2
        self.param("W", (window, n_in, n_filters), conv_glorot_uniform)
        self.param("b", (n_filters,), init.zeros, decay=False)

    def _im2col_rows(self, padded) -> tuple[np.ndarray, np.ndarray]:
        """Rows of a ``(T * B + 1, D)`` view of X~ for the real positions: ``(rows (N,), sources (N, k))``.

        ``rows[n] = t * B + b`` is real position n; ``sources[n, j]`` is the row of ``X~[t + j - p, b]``, or the
        zero row ``T * B`` when ``t + j - p`` lies outside the sequence.
        """
        B = padded.B
        t_idx, b_idx = padded.real                                             # (N,) each
        s = t_idx[:, None] + (np.arange(self.window) - self.pad)[None, :]     # (N, k)  source times
        inside = (s >= 0) & (s < padded.lengths[b_idx][:, None])              # (N, k)
        sources = np.where(inside, s * B + b_idx[:, None], padded.T * B)     # (N, k)
        return t_idx * B + b_idx, sources

    def forward(self, X, lengths=None, rng=None):
        """Convolve the real positions of each sequence.

        Parameters
        ----------
        X : ndarray, shape (T, B, D)
            Padding (t >= L_b) is never read.
        lengths : Padded, or ndarray of int, shape (B,), optional
            None: every sequence fills all T positions.
        rng : ignored (no noise)

        Returns
        -------
        Y : ndarray, shape (T, B, F)
            In the parameters' dtype; 0 at padding.
        backprop : callable
            ``dY (T, B, F) -> dX (T, B, D)`` (0 at padding), accumulating dW and db.
        """
        if X.ndim != 3 or X.shape[2] != self.n_in:
            raise ValueError(f"Conv1D expects inputs of shape (T, B, {self.n_in}), got shape {X.shape}")
        T, B, D = X.shape
        k, F = self.window, self.n_filters
        padded = as_padded(lengths, T, B)
        f, df = ACTIVATIONS[self.activation]
        W2, b = self.p["W"].reshape(k * D, F), self.p["b"]
        dtype = W2.dtype
        rows, sources = self._im2col_rows(padded)
        N = rows.shape[0]
        Xz = np.empty((T * B + 1, D), dtype=dtype)                            # X~ plus the zero row
        Xz[:-1] = X.reshape(T * B, D)
        Xz[-1] = 0
        Xc = np.take(Xz, sources, axis=0).reshape(N, k * D)                  # (N, kD)  im2col
        Z = Xc @ W2                                                           # (N, F)
        Z += b
        Yp = f(Z)                                                             # (N, F)  real positions
        Y = np.zeros((T * B, F), dtype=dtype)
        Y[rows] = Yp

        def backprop(dY):
            dZ = dY.reshape(T * B, F)[rows]                                   # (N, F)
            if df is not None:
                dZ *= df(Yp)                                                  # 1. (dZ is a fresh gather)
            self.g["W"] += (Xc.T @ dZ).reshape(k, D, F)                       # 2.
            self.g["b"] += dZ.sum(axis=0)
            dXc = (dZ @ W2.T).reshape(N, k, D)                                # 3. (N, k, D)
            dXz = np.zeros((T * B + 1, D), dtype=dtype)
            for j in range(k):                                                # 4. real sources are distinct
                dXz[sources[:, j]] += dXc[:, j]                               #    for one j; row T*B is junk
            return dXz[:-1].reshape(T, B, D).astype(X.dtype, copy=False)

        return Y.reshape(T, B, F), backprop


class MaxOverTime(Layer):
    """The maximum over the real positions of each sequence: ``(T, B, F) -> (B, F)``.

    Notes
    -----
    ``M[b, f] = max_{t < L_b} Y[t, b, f]``; padding never wins the max, whatever it holds. Backward routes
    ``dM[b, f]`` to the argmax (the first, on ties) and gives every other position, padding included, zero.
    No parameters.
    """

    def forward(self, X, lengths=None, rng=None):
        """Max over the real positions.

        Parameters
        ----------
        X : ndarray, shape (T, B, F)
        lengths : Padded, or ndarray of int, shape (B,), optional
            None: every sequence fills all T positions.
        rng : ignored (no noise)

        Returns
        -------
        M : ndarray, shape (B, F)
        backprop : callable
            ``dM (B, F) -> dX (T, B, F)``, nonzero only at the argmax of each (b, f).
        """
        if X.ndim != 3:
            raise ValueError(f"MaxOverTime expects inputs of shape (T, B, F), got shape {X.shape}")
        T, B = X.shape[:2]
        padded = as_padded(lengths, T, B)
        masked = np.where(padded.mask[:, :, None], X, -np.inf)               # (T, B, F)
        argmax = masked.argmax(axis=0)[None]                                  # (1, B, F)
        M = np.take_along_axis(X, argmax, axis=0)[0]                          # (B, F)

        def backprop(dM):
            dX = np.zeros_like(X)
            np.put_along_axis(dX, argmax, dM[None], axis=0)
            return dX

        return M, backprop
