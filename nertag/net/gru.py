"""Gated recurrent unit (Cho et al. 2014) over padded batches of uneven-length sequences.

Notation
--------
T, B, D, H    padded length, batch size, input size, state size
x_t  (B, D)   input at step t;  h_t (B, H) state after step t;  h_{-1} = h0 (zeros unless given)
W (D, 3H), U (H, 3H), b (3H,), c (3H,)   input and recurrent weights and biases, gate blocks [r | z | n]
a_t = x_t W + b           (B, 3H)   input pre-activations, one GEMM for all t:   [a_r | a_z | a_n]
g_t = h_{t-1} U + c       (B, 3H)   recurrent pre-activations, one GEMM per step: [g_r | g_z | g_n]
r_t = sigmoid(a_r + g_r)            reset gate
z_t = sigmoid(a_z + g_z)            update gate
n_t = tanh(a_n + r_t * g_n)         candidate (reset applied after the recurrent product, as in cuDNN)
h_t = (1 - z_t) * n_t + z_t * h_{t-1}  =  n_t + z_t * (h_{t-1} - n_t)
Padding (t >= L_b): the state passes unchanged and the output is 0; ``h_last[b] = h_{L_b - 1}[b]``.

Backward, for t = T-1 .. 0 on the real rows (dh is the running dL/dh_t):
  1. dh  += dy_t
  2. dn   = dh * (1 - z),   dz = dh * (h_{t-1} - n)                    through the state update
  3. da_n = dn * (1 - n^2),  dg_n = da_n * r,  dr = da_n * g_n          through the candidate
  4. dg_z = da_z = dz * z (1 - z),   dg_r = da_r = dr * r (1 - r)       through the gates
  5. dh   = dh * z + dg_t U^T                                           to h_{t-1}
After the loop, over all (T*B) rows at once:
  6. dW += X^T dA,  db += sum(dA),  dU += [h_{-1} .. h_{T-2}]^T dG,  dc += sum(dG),  dX = dA W^T,  dh0 = dh

The batch is handled as in :mod:`nertag.net.rnn`: ordered by decreasing length so the real rows of each
step are a contiguous prefix, padded rows are never computed and get exactly zero gradient.

References
----------
Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk, Bengio (2014). Learning phrase
representations using RNN encoder-decoder for statistical machine translation. EMNLP.
"""
from __future__ import annotations

import numpy as np

from . import init
from ._recurrent import gru_step_backward, gru_step_forward
from .rnn import Recurrent


def _sigmoid_(x: np.ndarray) -> None:
    """In place: sigmoid(x) = (1 + tanh(x / 2)) / 2, without overflow for large |x|."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def gru_step_forward_numpy(a, g, c_n, h_prev, rzn, gn, h) -> None:
    """NumPy twin of :func:`nertag.net._recurrent.gru_step_forward`: the elementwise part of one step.

    Parameters
    ----------
    a : ndarray, shape (k, 3H)
        Input pre-activations of the k real rows, with c_r and c_z already added.
    g : ndarray, shape (k, 3H)
        ``h_prev U``, without bias.
    c_n : ndarray, shape (H,)
    h_prev : ndarray, shape (k, H)
    rzn, gn, h : ndarray, shapes (k, 3H), (k, H), (k, H)
        Written: ``[r | z | n]``, ``g_n = g[:, 2H:] + c_n`` and the new state.
    """
    H = h.shape[1]
    rz, nn = rzn[:, : 2 * H], rzn[:, 2 * H:]
    np.add(a[:, : 2 * H], g[:, : 2 * H], out=rz)
    _sigmoid_(rz)                                                  # r, z
    np.add(g[:, 2 * H:], c_n, out=gn)                              # g_n
    np.multiply(rz[:, :H], gn, out=nn)
    nn += a[:, 2 * H:]
    np.tanh(nn, out=nn)                                            # n
    np.subtract(h_prev, nn, out=h)
    h *= rz[:, H:]
    h += nn                                                        # h = n + z (h_prev - n)


def gru_step_backward_numpy(dh, dy, rzn, gn, h_prev, dg, da) -> None:
    """NumPy twin of :func:`nertag.net._recurrent.gru_step_backward`: steps 1-4 and half of 5.

    Parameters
    ----------
    dh : ndarray, shape (k, H)
        dL/dh_t from later steps; overwritten with ``(dh + dy) * z``.
    dy : ndarray, shape (k, H)
    rzn, gn, h_prev : ndarray, shapes (k, 3H), (k, H), (k, H)
        The forward cache of this step and the previous state.
    dg, da : ndarray, shape (k, 3H)
        Written: dL/dg_t and dL/da_t. The caller then adds ``dg U^T`` to ``dh``.
    """
    H = dh.shape[1]
    rz, r, z, nn = rzn[:, : 2 * H], rzn[:, :H], rzn[:, H: 2 * H], rzn[:, 2 * H:]
    dg_rz, dg_r, dg_z, dg_n, da_n = dg[:, : 2 * H], dg[:, :H], dg[:, H: 2 * H], dg[:, 2 * H:], da[:, 2 * H:]
    dh += dy                                                       # 1.
    np.subtract(h_prev, nn, out=dg_z)
    dg_z *= dh                                                     # 2. dz
    np.subtract(1.0, z, out=da_n)
    da_n *= dh                                                     # 2. dn
    dh *= z                                                        # 5., first term
    np.multiply(nn, nn, out=dg_n)
    np.subtract(1.0, dg_n, out=dg_n)
    da_n *= dg_n                                                   # 3. da_n
    np.multiply(da_n, r, out=dg_n)                                 # 3. dg_n
    np.multiply(da_n, gn, out=dg_r)                                # 3. dr
    rz_slope = da[:, : 2 * H]
    np.subtract(1.0, rz, out=rz_slope)
    rz_slope *= rz
    dg_rz *= rz_slope                                              # 4. dg_r, dg_z
    da[:, : 2 * H] = dg_rz                                         # 4. da_r, da_z


# Up to this many entries (k * H), the fused compiled forward step beats the NumPy twin; above it NumPy's SIMD
# exp/tanh outrun the scalar libm calls of the compiled loop (one step timed alone, H=100, NumPy 2.4 on
# AVX-512: compiled 1.2-2.4x faster at k=1, 1.4-2.6x slower at k=32). The compiled backward step, which has no
# transcendentals, wins at every size.
FUSED_FORWARD_MAX = 1024


def _gru_step_forward_fastest(a, g, c_n, h_prev, rzn, gn, h) -> None:
    if h.size <= FUSED_FORWARD_MAX:
        gru_step_forward(a, g, c_n, h_prev, rzn, gn, h)
    else:
        gru_step_forward_numpy(a, g, c_n, h_prev, rzn, gn, h)


KERNELS = {
    "cython": (_gru_step_forward_fastest, gru_step_backward),
    "cython-only": (gru_step_forward, gru_step_backward),
    "numpy": (gru_step_forward_numpy, gru_step_backward_numpy),
}


class GRU(Recurrent):
    """GRU layer over time-major padded batches.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.
    kernel : {"cython", "numpy", "cython-only"}
        Elementwise step kernels: "cython" (default) uses the compiled backward step and, for small steps,
        the compiled forward step (see ``FUSED_FORWARD_MAX``); "numpy" uses the NumPy twins only (the test
        oracle); "cython-only" the compiled kernels at every size. All agree to rounding.

    Notes
    -----
    Equations and the numbered backward steps are in the module docstring. Parameters: ``W (D, 3H)``
    Glorot uniform, ``U (H, 3H)`` orthogonal per gate block, ``b (3H,)`` and ``c (3H,)`` zeros without
    weight decay; ``3 * (D*H + H*H + 2*H)`` in all. Use :meth:`run` for the final states and the gradient
    w.r.t. the initial state.

    References
    ----------
    Cho et al. (2014), EMNLP.
    """

    def __init__(self, n_in: int, n_hidden: int, *, kernel: str = "cython"):
        super().__init__(n_in, n_hidden)
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
        self.kernel = kernel
        D, H = self.n_in, self.n_hidden
        self.param("W", (D, 3 * H), init.glorot_uniform)
        self.param("U", (H, 3 * H), init.orthogonal)
        self.param("b", (3 * H,), init.zeros, decay=False)
        self.param("c", (3 * H,), init.zeros, decay=False)

    def _scan(self, X, n, h0):
        W, U, b, c = self.p["W"], self.p["U"], self.p["b"], self.p["c"]
        step_forward, step_backward = KERNELS[self.kernel]
        T, B, D = X.shape
        H = self.n_hidden
        X2 = X.reshape(T * B, D)
        A = (X2 @ W + b).reshape(T, B, 3 * H)                      # (T, B, 3H)  a_t for all t
        A[:, :, : 2 * H] += c[: 2 * H]                              # c_r, c_z act like input biases
        c_n = c[2 * H:]
        S = np.zeros((T + 1, B, H), W.dtype)                       # S[t + 1] = h_t, S[0] = h0
        if h0 is not None:
            S[0] = h0
        RZN = np.empty((T, B, 3 * H), W.dtype)                     # (T, B, 3H)  [r | z | n] cache
        Gn = np.empty((T, B, H), W.dtype)                          # (T, B, H)   g_n cache
        G = np.empty((B, 3 * H), W.dtype)                          # (B, 3H)     h_{t-1} U, per step
        for t in range(T):
            k = n[t]
            np.dot(S[t, :k], U, out=G[:k])                         # (k, 3H)  the one GEMM of the step
            step_forward(A[t, :k], G[:k], c_n, S[t, :k], RZN[t, :k], Gn[t, :k], S[t + 1, :k])
        Y = S[1:].copy()                                           # padded rows were never written: 0

        def scan_back(dY):
            dY = np.ascontiguousarray(dY)
            UT = np.ascontiguousarray(U.T)                         # (3H, H)  faster GEMM than the view
            dG = np.zeros((T, B, 3 * H), W.dtype)                  # (T, B, 3H)  dL/dg_t, 0 at padding
            dA = np.zeros((T, B, 3 * H), W.dtype)                  # (T, B, 3H)  dL/da_t, 0 at padding
            dh = np.zeros((B, H), W.dtype)                         # dL/dh_t
            rec = np.empty((B, H), W.dtype)                        # (B, H)  dg_t U^T, per step
            for t in range(T - 1, -1, -1):
                k = n[t]
                step_backward(dh[:k], dY[t, :k], RZN[t, :k], Gn[t, :k], S[t, :k], dG[t, :k], dA[t, :k])  # 1.-4.
                np.dot(dG[t, :k], UT, out=rec[:k])                 # (k, H)  the one GEMM of the step
                dh[:k] += rec[:k]                                  # 5. dh = dh z + dg U^T
            dA2, dG2 = dA.reshape(T * B, 3 * H), dG.reshape(T * B, 3 * H)
            self.g["W"] += X2.T @ dA2                              # 6.
            self.g["b"] += dA2.sum(axis=0)
            self.g["U"] += S[:-1].reshape(T * B, H).T @ dG2
            self.g["c"] += dG2.sum(axis=0)
            return (dA2 @ W.T).reshape(T, B, D), dh

        return Y, scan_back
