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

import os
from functools import partial

import numpy as np

from . import init
from ._recurrent import gru_scan_backward, gru_scan_forward, gru_step_backward, gru_step_forward
from .rnn import Recurrent
from .workspace import Workspace


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
# transcendentals, wins at every size. (Only the "cython-step" kernel switches; the default "cython" kernel
# runs whole sequences in C with vectorised transcendentals.)
FUSED_FORWARD_MAX = 1024

# From this batch size on, the input products x_t W are computed inside the time loop for the real rows of
# each step, not by one GEMM over all T*B positions before it: no work on padding (31% of the positions of
# bucketed B=256 batches of CoNLL-like lengths) and no (T, B, 3H) array to stream through memory. Below it,
# the one big GEMM wins (per-step products of a few rows run well below peak).
STEP_INPUT_MIN_BATCH = 64


def _single_threaded_scan_blas() -> None:
    """Run the BLAS that SciPy bundles, which the compiled scans call, on one thread.

    The per-step products of the scans (a few hundred rows at most) are too small to gain from threads, yet
    OpenBLAS splits them over its pool from about 10 rows on. With pip wheels SciPy's OpenBLAS is a second
    library beside NumPy's, with a second pool of spinning threads: on a busy 2-core machine an unpinned
    CoNLL-2003 training epoch took over 3 CPU-minutes instead of 14 s. NumPy's BLAS (the big per-batch
    products) keeps the user's thread setting. Nothing happens when SciPy's BLAS is not its own library.
    """
    try:
        import scipy
        from threadpoolctl import ThreadpoolController
    except ImportError:                                            # threadpoolctl comes with scikit-learn
        return
    bundled = os.path.realpath(os.path.dirname(scipy.__file__) + ".libs") + os.sep
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and os.path.realpath(lib.filepath).startswith(bundled):
            lib.set_num_threads(1)


_single_threaded_scan_blas()


def _gru_step_forward_fastest(a, g, c_n, h_prev, rzn, gn, h) -> None:
    if h.size <= FUSED_FORWARD_MAX:
        gru_step_forward(a, g, c_n, h_prev, rzn, gn, h)
    else:
        gru_step_forward_numpy(a, g, c_n, h_prev, rzn, gn, h)


def _steps(lengths: np.ndarray, order: np.ndarray, reverse: bool, t: int):
    """Real rows ``k`` of step t, their batch columns and the positions they read and write."""
    k = int(np.count_nonzero(lengths > t))
    positions = lengths[:k] - 1 - t if reverse else np.full(k, t)
    return k, order[:k], positions


def gru_scan_forward_numpy(A, X, W, bias, U, c_n, lengths, order, reverse, S, RZN, Gn, G, At, Xt, Y,
                           step=gru_step_forward_numpy) -> None:
    """NumPy twin of :func:`nertag.net._recurrent.gru_scan_forward`: all steps of one GRU direction.

    Parameters
    ----------
    A : ndarray, shape (T, B, 3H), or None
        Input products ``x W``, indexed ``[position, column]``; None: computed at each step for its real
        rows only, from ``X`` (T, B, D) and ``W`` (D, 3H) (the choice for large batches: no GEMM on padding).
    X, W : ndarray, shapes (T, B, D), (D, 3H)
    bias : ndarray, shape (3H,)
        ``b + [c_r | c_z | 0]``: c_r and c_z act like input biases.
    U : ndarray, shape (H, 3H)
    c_n : ndarray, shape (H,)
    lengths : ndarray of int64, shape (B,)
        Sequence lengths in decreasing order; ``order`` (B,) int64: the batch column of each sorted row.
    reverse : bool
        Read each sequence from its last real position to position 0.
    S : ndarray, shape (T_real + 1, B, H)
        ``S[0]``: initial states of the sorted rows; written: ``S[t + 1] = h_t`` (0 at padded rows).
    RZN, Gn : ndarray, shapes (T_real, B, 3H), (T_real, B, H)
        Written: the caches ``[r | z | n]`` and ``g_n`` of each step (sorted rows; padded rows unspecified).
        With one step only, (1, B, 3H) and (1, B, H): scratch overwritten at every step (prediction).
    G, At, Xt : ndarray, shapes (B, 3H), (B, 3H), (B, D)
        Scratch for ``h_{t-1} U``, the step's ``x W`` and its gathered inputs (the last two unused here).
    Y : ndarray, shape (T, B, H)
        Written: the outputs ``[position, column]``, 0 at padding; may be a view with a contiguous last axis.
    step : callable
        The elementwise step (:func:`gru_step_forward_numpy`, or a compiled one for the "cython-step" kernels).
    """
    Y[...] = 0
    T_real = int(lengths[0]) if len(lengths) else 0
    cache = RZN.shape[0] == T_real
    for t in range(T_real):
        k, cols, pos = _steps(lengths, order, reverse, t)
        tc = t if cache else 0
        np.dot(S[t, :k], U, out=G[:k])                                       # (k, 3H) the one GEMM of the step
        a = X[pos, cols] @ W if A is None else A[pos, cols]                   # (k, 3H)
        step(a + bias, G[:k], c_n, S[t, :k], RZN[tc, :k], Gn[tc, :k], S[t + 1, :k])
        S[t + 1, k:] = 0
        Y[pos, cols] = S[t + 1, :k]


def gru_scan_backward_numpy(dY, U, RZN, Gn, S, lengths, order, reverse, dG, dA, dh,
                            step=gru_step_backward_numpy) -> None:
    """NumPy twin of :func:`nertag.net._recurrent.gru_scan_backward`: steps 1-5 for all steps, last first.

    Parameters
    ----------
    dY : ndarray, shape (T, B, H), or None
        dL/dY indexed ``[position, column]`` (entries at padding are ignored); None: no output gradient.
    U, RZN, Gn, S, lengths, order, reverse : as in :func:`gru_scan_forward_numpy`
    dG : ndarray, shape (T_real, B, 3H)
        Written: dL/dg_t of the sorted rows of each step, 0 at padded rows.
    dA : ndarray, shape (T, B, 3H)
        Written: dL/da_t indexed ``[position, column]``, 0 at padding.
    dh : ndarray, shape (B, H)
        dL/dh_last of the sorted rows on entry (row i's running gradient is untouched until its last step,
        where it joins), dL/dh0 on return.
    step : callable
        The elementwise step (:func:`gru_step_backward_numpy` or a compiled one).
    """
    dG[...] = 0
    dA[...] = 0
    T_real = int(lengths[0]) if len(lengths) else 0
    for t in range(T_real - 1, -1, -1):
        k, cols, pos = _steps(lengths, order, reverse, t)
        dy = np.zeros((k, U.shape[0]), dh.dtype) if dY is None else np.ascontiguousarray(dY[pos, cols])
        da = np.empty((k, U.shape[1]), dh.dtype)
        step(dh[:k], dy, RZN[t, :k], Gn[t, :k], S[t, :k], dG[t, :k], da)   # 1.-4.
        dA[pos, cols] = da
        dh[:k] += dG[t, :k] @ U.T                                          # 5. dh = dh z + dg U^T


def _stepwise(step_forward, step_backward):
    return (partial(gru_scan_forward_numpy, step=step_forward), partial(gru_scan_backward_numpy, step=step_backward))


KERNELS = {
    "cython": (gru_scan_forward, gru_scan_backward),
    "numpy": _stepwise(gru_step_forward_numpy, gru_step_backward_numpy),
    "cython-step": _stepwise(_gru_step_forward_fastest, gru_step_backward),
    "cython-only": _stepwise(gru_step_forward, gru_step_backward),
}


class GRU(Recurrent):
    """GRU layer over time-major padded batches.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.
    kernel : {"cython", "numpy", "cython-step", "cython-only"}
        "cython" (default): the whole time loop of a direction in one compiled call (BLAS for the recurrent
        GEMM, vectorised elementwise loops); "numpy": its NumPy twins only (the test oracle); "cython-step" and
        "cython-only": the NumPy time loop with the compiled step kernels (the latter at every size, see
        ``FUSED_FORWARD_MAX``). All agree to rounding.

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

    #: :meth:`run` reads sequences backwards and writes into a given output itself (see Bidirectional).
    runs_reversed = True

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
        self._workspace = Workspace()                                 # scratch reused across calls, no state

    def run(self, X, lengths=None, h0=None, *, reverse: bool = False, out=None, grad: bool = True):
        """Run the GRU over a padded batch; see :meth:`Recurrent.run`.

        Two more options serve :class:`~nertag.net.bidirectional.Bidirectional` without copies:

        reverse : bool
            Read each sequence from its last real position down to position 0; ``Y[t]`` is still the output
            at position t, and ``h_last`` the state after position 0.
        out : ndarray, shape (T, B, H), optional
            Where to write ``Y`` (e.g. one half of a wider output); its last axis must be contiguous.
        grad : bool
            False: prediction only; the gate caches for backward are not kept (less memory traffic) and the
            returned ``backprop`` raises.

        Notes
        -----
        The batch is never reordered: rows are visited longest first through an index (``order``), the
        states are kept in that sorted order, so the real rows of each step are a contiguous prefix for the
        recurrent GEMM, while inputs, outputs and their gradients stay in batch order.
        """
        W, U, b, c = self.p["W"], self.p["U"], self.p["b"], self.p["c"]
        dtype = W.dtype
        X, lengths, h0 = self._check_inputs(X, lengths, h0)
        scan_forward, scan_backward = KERNELS[self.kernel]
        T, B, D = X.shape
        H = self.n_hidden
        order = np.argsort(-lengths, kind="stable")                   # longest first
        sorted_lengths = np.ascontiguousarray(lengths[order])
        T_real = int(sorted_lengths[0]) if B else 0
        X2 = np.ascontiguousarray(X).reshape(T * B, D)
        bias = b.copy()
        bias[: 2 * H] += c[: 2 * H]                                    # c_r, c_z act like input biases
        ws = self._workspace
        A = None                                                       # x_t W inside the scan, real rows only
        if B < STEP_INPUT_MIN_BATCH:                                   # one GEMM for all t is faster
            A = np.matmul(X2, W, out=ws.take((T * B, 3 * H), dtype)).reshape(T, B, 3 * H)   # batch order
        S = ws.take((T_real + 1, B, H), dtype)                         # S[t + 1] = h_t, sorted rows
        S[0] = 0 if h0 is None else h0[order]
        steps = T_real if grad else 1                                  # prediction: one step of scratch
        RZN = ws.take((steps, B, 3 * H), dtype)                        # (T_real, B, 3H)  [r | z | n] cache
        Gn = ws.take((steps, B, H), dtype)                             # (T_real, B, H)   g_n cache
        G = ws.take((B, 3 * H), dtype)                                 # (B, 3H)  h_{t-1} U, per step
        At, Xt = ws.take((B, 3 * H), dtype), ws.take((B, D), dtype)    # x_t W and x_t, per step (A is None)
        if out is None:
            Y = ws.take((T, B, H), dtype)
        else:
            Y = out
            if Y.shape != (T, B, H) or Y.dtype != dtype or (Y.size and Y.strides[2] != Y.itemsize):
                raise ValueError(f"out must be a ({T}, {B}, {H}) {dtype} array with a contiguous last axis")
        X3 = X2.reshape(T, B, D)
        scan_forward(A, X3, W, bias, U, c[2 * H:], sorted_lengths, order, bool(reverse), S, RZN, Gn, G, At, Xt, Y)
        del A, G, At, Xt                                               # back to the workspace
        h_last = np.empty((B, H), dtype)                               # (B, H)
        h_last[order] = S[sorted_lengths, np.arange(B)]

        def backprop(dY, dh_last=None):
            if not grad:
                raise RuntimeError("this GRU run was for prediction (grad=False): nothing kept for backward")
            if dY is not None:
                dY = np.asarray(dY, dtype=dtype)
                if dY.shape != (T, B, H):
                    raise ValueError(f"dY must have shape ({T}, {B}, {H}), got {dY.shape}")
                if dY.size and dY.strides[2] != dY.itemsize:
                    dY = np.ascontiguousarray(dY)
            dh = np.zeros((B, H), dtype) if dh_last is None else np.asarray(dh_last, dtype)[order]  # (B, H)
            dG = ws.take((T_real, B, 3 * H), dtype)                    # (T_real, B, 3H)  dL/dg_t, sorted rows
            dA = ws.take((T, B, 3 * H), dtype)                         # (T, B, 3H)  dL/da_t, batch order
            scan_backward(dY, U, RZN, Gn, S, sorted_lengths, order, bool(reverse), dG, dA, dh)   # 1.-5.
            dA2, dG2 = dA.reshape(T * B, 3 * H), dG.reshape(T_real * B, 3 * H)
            self.g["W"] += X2.T @ dA2                                  # 6.
            self.g["b"] += dA2.sum(axis=0)
            self.g["U"] += S[:-1].reshape(T_real * B, H).T @ dG2
            self.g["c"] += dG2.sum(axis=0)
            dh0 = np.empty((B, H), dtype)
            dh0[order] = dh
            dX = np.matmul(dA2, W.T, out=ws.take((T * B, D), dtype))  # (T*B, D)
            return dX.reshape(T, B, D), dh0

        return Y, h_last, backprop
