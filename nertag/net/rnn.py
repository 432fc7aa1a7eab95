"""Recurrent layers over padded batches of uneven-length sequences, and the plain tanh RNN.

Notation
--------
T, B, D, H   padded length, batch size, input size, state size
x_t          (B, D)  input at step t;  X = [x_0 .. x_{T-1}]  (T, B, D), time-major
L_b          length of sequence b;  position t of sequence b is real when t < L_b
h_t          (B, H)  state after step t;  h_{-1} = h0 (zeros unless given)
a_t          (B, H)  input part of the pre-activation,  a_t = x_t W + b   (one GEMM for all t)
h_t'         tanh(a_t + h_{t-1} U)                                        candidate state
h_t          h_t'  where t < L_b,  h_{t-1} where t >= L_b                 (state carried over padding)
y_t          h_t'  where t < L_b,  0 where t >= L_b                       (zero output at padding)
h_last       (B, H)  h at each sequence's own last real step,  h_last[b] = h_{L_b - 1}[b]

Backward (dY = dL/dY, dh_last = dL/dh_last; dh is the running dL/dh_t), for t = T-1 .. 0, real rows:
  1. dh   += dy_t                                   total gradient reaching h_t
  2. ds_t  = dh * (1 - h_t'^2)                      through the tanh;  ds_t = 0 at padding
  3. dh    = ds_t U^T                               to h_{t-1}   (padding rows: dh passes unchanged)
After the loop, over all (T*B) rows at once:
  4. dW += X^T dS,  db += sum(dS),  dU += [h_{-1} .. h_{T-2}]^T dS,  dX = dS W^T,  dh0 = dh

How uneven lengths are handled
------------------------------
The batch is ordered by decreasing length (a no-op when the caller already sorted it), so at step t the
real rows are the prefix ``[:n_t]`` with ``n_t = #{b : L_b > t}``. Every per-step operation works on that
contiguous prefix; padded rows are never computed and receive exactly zero gradient. No masks are
multiplied. The carried state over padding is never materialised: ``h_last`` is gathered from step
``L_b - 1``, and dL/dh_last enters the backward pass at that step.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import init
from .layer import Layer, check_lengths

# backprop(dY, dh_last=None) -> (dX, dh0); dY may be None when only the final states are used.
RecurrentBackprop = Callable[..., "tuple[np.ndarray, np.ndarray]"]


def n_active(lengths: np.ndarray, T: int) -> np.ndarray:
    """``n[t]`` = number of sequences with a real position ``t``; a prefix count for sorted lengths."""
    return np.count_nonzero(lengths[None, :] > np.arange(T)[:, None], axis=1)


class Recurrent(Layer):
    """Base of the recurrent layers: input checks, batch ordering and the ``run`` / ``forward`` API.

    Subclasses implement :meth:`_scan` for a batch sorted by decreasing length.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.
    """

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__()
        self.n_in, self.n_hidden = int(n_in), int(n_hidden)

    @property
    def n_out(self) -> int:
        return self.n_hidden

    def run(self, X, lengths=None, h0=None) -> tuple[np.ndarray, np.ndarray, RecurrentBackprop]:
        """Run the recurrence over a padded batch, returning outputs, final states and a backprop.

        Parameters
        ----------
        X : ndarray, shape (T, B, D)
        lengths : ndarray of int, shape (B,), optional
            Real length of each sequence, in 1..T; all T when omitted.
        h0 : ndarray, shape (B, H), optional
            Initial state; zeros when omitted. No state is ever carried between calls.

        Returns
        -------
        Y : ndarray, shape (T, B, H)
            States at real positions, exactly 0 at padding.
        h_last : ndarray, shape (B, H)
            The state at each sequence's own last real step.
        backprop : callable ``backprop(dY, dh_last=None) -> (dX, dh0)``
            ``dY`` (T, B, H) or None (no gradient on the outputs), ``dh_last`` (B, H) or None. Accumulates
            parameter gradients into ``self.g`` and returns dL/dX (T, B, D), 0 at padding, and dL/dh0 (B, H).
            Entries of ``dY`` at padding are ignored.
        """
        W = self.p["W"]
        X, lengths, h0 = self._check_inputs(X, lengths, h0)
        T, B, _ = X.shape
        H = self.n_hidden

        order = np.argsort(-lengths, kind="stable")                 # longest first: real rows are a prefix
        if np.array_equal(order, np.arange(B)):
            order = None
        else:
            X, lengths = X[:, order], lengths[order]
            h0 = None if h0 is None else h0[order]
        T_real = int(lengths.max()) if B else 0                      # trailing all-padding steps are skipped
        n = n_active(lengths, T_real)
        Y, scan_back = self._scan(X[:T_real], n, h0)               # (T_real, B, H)
        h_last = Y[lengths - 1, np.arange(B)]                         # (B, H)
        if T_real < T:
            Y = np.concatenate([Y, np.zeros((T - T_real, B, H), Y.dtype)])
        if order is not None:
            inverse = np.empty_like(order)
            inverse[order] = np.arange(B)
            Y, h_last = Y[:, inverse], h_last[inverse]

        def backprop(dY, dh_last=None):
            if dY is None:
                dY = np.zeros((T_real, B, H), W.dtype)
            else:
                dY = np.asarray(dY, dtype=W.dtype)[:T_real]
                dY = dY[:, order] if order is not None else dY.copy()      # ours to add into
            if dh_last is not None:
                # h_last[b] is h at step L_b - 1 (the state only passes unchanged over padding), so its
                # gradient joins dy there rather than being carried through the padded steps.
                dh = np.asarray(dh_last, dtype=W.dtype)
                dY[lengths - 1, np.arange(B)] += dh if order is None else dh[order]
            dX, dh0 = scan_back(dY)
            if T_real < T:
                dX = np.concatenate([dX, np.zeros((T - T_real,) + dX.shape[1:], dX.dtype)])
            if order is not None:
                dX, dh0 = dX[:, inverse], dh0[inverse]
            return dX, dh0

        return Y, h_last, backprop

    def _check_inputs(self, X, lengths, h0):
        """``X`` (T, B, D) in the parameters' dtype, ``lengths`` (B,) int64 (all T when None), ``h0`` or None."""
        dtype = self.p["W"].dtype
        X = np.asarray(X, dtype=dtype)
        if X.ndim != 3 or X.shape[2] != self.n_in:
            raise ValueError(f"{type(self).__name__} expects inputs of shape (T, B, {self.n_in}), got {X.shape}")
        T, B, _ = X.shape
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else check_lengths(lengths, T, B)
        if h0 is not None:
            h0 = np.asarray(h0, dtype=dtype)
            if h0.shape != (B, self.n_hidden):
                raise ValueError(f"h0 must have shape ({B}, {self.n_hidden}), got {h0.shape}")
        return X, lengths, h0

    def forward(self, X, lengths=None, rng=None, h0=None):
        """The layer contract: ``(Y, backprop)`` with ``backprop(dY) -> dX``; see :meth:`run` for dh0."""
        Y, _, backprop = self.run(X, lengths, h0)
        return Y, lambda dY: backprop(dY)[0]

    def _scan(self, X: np.ndarray, n: np.ndarray, h0: np.ndarray | None):
        """Recurrence over a batch sorted by decreasing length.

        ``X`` (T, B, D) with ``n[t]`` real rows (a prefix) at step t, ``n[0] = B`` unless B = 0. Returns
        ``Y`` (T, B, H), zero at padding, and ``scan_back(dY) -> (dX, dh0)`` where ``dY`` (T, B, H) already
        holds the final-state gradients (at each sequence's last real step) and is ignored at padding.
        """
        raise NotImplementedError


class RNN(Recurrent):
    """Elman RNN with a tanh state over padded batches, ``h_t = tanh(x_t W + b + h_{t-1} U)``.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.

    Notes
    -----
    Parameters: ``W (D, H)`` Glorot uniform, ``U (H, H)`` orthogonal, ``b (H,)`` zeros, no decay;
    ``D*H + H*H + H`` in all. The equations and backward steps are in the module docstring.
    Use :meth:`run` for the final states and the gradient w.r.t. the initial state.
    """

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__(n_in, n_hidden)
        H = self.n_hidden
        self.param("W", (self.n_in, H), init.glorot_uniform)
        self.param("U", (H, H), init.orthogonal)
        self.param("b", (H,), init.zeros, decay=False)

    def _scan(self, X, n, h0):
        W, U, b = self.p["W"], self.p["U"], self.p["b"]
        T, B, D = X.shape
        H = self.n_hidden
        X2 = X.reshape(T * B, D)
        S = np.zeros((T + 1, B, H), W.dtype)                       # S[t + 1] = y_t, S[0] = h0
        if h0 is not None:
            S[0] = h0
        A = (X2 @ W + b).reshape(T, B, H)                            # (T, B, H)  a_t for all t
        for t in range(T):
            k = n[t]
            h = S[t + 1, :k]                                          # (k, H) view, written in place
            np.dot(S[t, :k], U, out=h)
            h += A[t, :k]
            np.tanh(h, out=h)
        Y = S[1:].copy()                                              # padded rows were never written: 0

        def scan_back(dY):
            dS = np.zeros((T, B, H), W.dtype)                        # (T, B, H)  ds_t, 0 at padding
            dh = np.zeros((B, H), W.dtype)                           # dL/dh_t, real rows only matter
            UT = np.ascontiguousarray(U.T)                           # (H, H)  faster GEMM than the view
            for t in range(T - 1, -1, -1):
                k = n[t]
                ds, h = dS[t, :k], S[t + 1, :k]
                np.add(dh[:k], dY[t, :k], out=ds)                     # 1. dh += dy_t
                ds *= 1.0 - h * h                                     # 2. through the tanh
                np.dot(ds, UT, out=dh[:k])                           # 3. to h_{t-1}
            dS2 = dS.reshape(T * B, H)
            self.g["W"] += X2.T @ dS2                                 # 4. one GEMM each over all rows
            self.g["b"] += dS2.sum(axis=0)
            self.g["U"] += S[:-1].reshape(T * B, H).T @ dS2
            return (dS2 @ W.T).reshape(T, B, D), dh

        return Y, scan_back
