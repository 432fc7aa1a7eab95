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
After the loop, over the N real positions at once:
  6. dW += X^T dA,  db += sum(dA),  dU += [h_{-1} .. h_{T-2}]^T dG,  dc += sum(dG),  dX = dA W^T,  dh0 = dh

Uneven lengths are handled as in :mod:`nertag.net.rnn`: the batch is never reordered; the states are kept
longest first, so the real rows of each step are a contiguous prefix for the recurrent GEMM, while inputs,
outputs and their gradients stay in batch order and are reached through the index ``order``. Padded rows
are never computed and get exactly zero gradient. The products over all positions (x W before the loop,
step 6 after it) run on the real positions only, gathered into "step order" (:meth:`Padded.step_rows`):
a character batch of CoNLL-2003 words is about a third real.

References
----------
Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk, Bengio (2014). Learning phrase
representations using RNN encoder-decoder for statistical machine translation. EMNLP.
"""
from __future__ import annotations

import os

import numpy as np

from . import init
from .kernels import select
from .rnn import Recurrent

# From this batch size on, prediction computes the input products x_t W inside the time loop for the real
# rows of each step, not by one GEMM over the real positions before it: no (N, 3H) array to stream through
# memory. Below it, the one big GEMM wins (per-step products of a few rows run well below peak). Training
# always takes the one GEMM: its gathered inputs serve dW too.
STEP_INPUT_MIN_BATCH = 64


def limit_scan_threads(n: int = 1) -> None:
    """Run the BLAS that SciPy bundles, which the compiled scans call, on ``n`` threads.

    The per-step products of the scans (a few hundred rows at most) are too small to gain from threads, yet
    OpenBLAS splits them over its pool from about 10 rows on. With pip wheels SciPy's OpenBLAS is a second
    library beside NumPy's, with a second pool of spinning threads: on a busy 2-core machine an unpinned
    CoNLL-2003 training epoch took over 3 CPU-minutes instead of 14 s. NumPy's BLAS (the big per-batch
    products) keeps the user's thread setting. Nothing happens when SciPy's BLAS is not its own library
    or threadpoolctl is missing. Called by :class:`nertag.network.TaggerNet` when it is built; never at import.
    """
    try:
        import scipy
        from threadpoolctl import ThreadpoolController
    except ImportError:                                            # threadpoolctl comes with scikit-learn
        return
    bundled = os.path.realpath(os.path.dirname(scipy.__file__) + ".libs") + os.sep
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and os.path.realpath(lib.filepath).startswith(bundled):
            lib.set_num_threads(n)


class GRU(Recurrent):
    """GRU layer over time-major padded batches.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.
    kernel : {"cython", "numpy"}
        "cython" (default): the whole time loop of a direction in one compiled call (BLAS for the recurrent
        GEMM, vectorised elementwise loops); "numpy": its twins in :mod:`nertag.net.recurrent_numpy` (the
        test oracle). Both agree to rounding.

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
        self._kernels = select("recurrent", kernel)
        self.kernel = kernel
        D, H = self.n_in, self.n_hidden
        self.param("W", (D, 3 * H), init.glorot_uniform)
        self.param("U", (H, 3 * H), init.orthogonal)
        self.param("b", (3 * H,), init.zeros, decay=False)
        self.param("c", (3 * H,), init.zeros, decay=False)

    def _input_bias(self) -> np.ndarray:
        """``b + [c_r | c_z | 0]`` (3H,): c_r and c_z act like input biases; c_n stays inside the reset."""
        H, bias = self.n_hidden, self.p["b"].copy()
        bias[: 2 * H] += self.p["c"][: 2 * H]
        return bias

    def final_states_of_ids(self, ids, table, padded, reverse: bool = False) -> np.ndarray:
        """Prediction only: ``h_last`` (B, H) when the input at each position is the row ``table[ids]``.

        ``x_t W`` is then a row of ``table W`` (V, 3H), which the scan reads in place: no (T, B, D) inputs
        and no product per position (a character encoder: V is ~100 characters, the batch holds thousands).
        Equal to ``run(table[ids], ...)[1]`` up to rounding.
        """
        W, U = self.p["W"], self.p["U"]
        dtype, B, H, ws = W.dtype, ids.shape[1], self.n_hidden, self._workspace

        def scan(projected, ids, padded, S, none):
            self._kernels.gru_scan_forward(None, none, W, self._input_bias(), U, self.p["c"][2 * H:],
                                           padded.sorted_lengths, padded.order, reverse, S,
                                           ws.take((1, B, 3 * H), dtype), ws.take((1, B, H), dtype),
                                           ws.take((B, 3 * H), dtype), ws.take((B, 3 * H), dtype),
                                           ws.take((B, 0), dtype), None, projected, ids)

        return self._final_states_by_lookup(ids, table, padded, scan)

    def _scan(self, X, padded, h0, reverse, Y, grad):
        """One direction through the compiled scan or its twin; see :meth:`Recurrent._scan`.

        With ``grad=False`` the gate caches are one step of scratch (less memory traffic), not kept.
        """
        W, U, b, c = self.p["W"], self.p["U"], self.p["b"], self.p["c"]
        dtype = W.dtype
        T, B, D = X.shape
        H = self.n_hidden
        order, lengths, T_real = padded.order, padded.sorted_lengths, padded.T_real
        X2 = np.ascontiguousarray(X).reshape(T * B, D)
        bias = self._input_bias()
        ws = self._workspace
        rows = padded.step_rows(reverse)                               # (N,) real positions, step order
        N = rows.shape[0]
        A = Xp = None                                                  # x_t W inside the scan
        if grad or B < STEP_INPUT_MIN_BATCH:                           # one GEMM over the real positions
            Xp = np.take(X2, rows, axis=0, out=ws.take((N, D), dtype))                   # (N, D)
            A = np.matmul(Xp, W, out=ws.take((N, 3 * H), dtype))                         # (N, 3H) packed
            if not grad:
                Xp = None
        S = ws.take((T_real + 1, B, H), dtype)                         # S[t + 1] = h_t, sorted rows
        S[0] = 0 if h0 is None else h0[order]
        steps = T_real if grad else 1                                  # prediction: one step of scratch
        RZN = ws.take((steps, B, 3 * H), dtype)                        # (T_real, B, 3H)  [r | z | n] cache
        Gn = ws.take((steps, B, H), dtype)                             # (T_real, B, H)   g_n cache
        G = ws.take((B, 3 * H), dtype)                                 # (B, 3H)  h_{t-1} U, per step
        At, Xt = ws.take((B, 3 * H), dtype), ws.take((B, D), dtype)    # x_t W and x_t, per step (A is None)
        X3 = X2.reshape(T, B, D)
        self._kernels.gru_scan_forward(A, X3, W, bias, U, c[2 * H:], lengths, order, reverse,
                                       S, RZN, Gn, G, At, Xt, Y)
        del A, G, At, Xt                                               # back to the workspace

        def scan_back(dY, dh):
            dG = ws.take((N, 3 * H), dtype)                            # (N, 3H)  dL/dg_t, packed
            dA = ws.take((N, 3 * H), dtype)                            # (N, 3H)  dL/da_t, packed
            Sp = ws.take((N, H), dtype)                                # (N, H)   h_{t-1}, packed
            UT = ws.take((3 * H, H), dtype)                            # (3H, H)  U^T when step 5 skips BLAS
            self._kernels.gru_scan_backward(dY, U, RZN, Gn, S, lengths, order, reverse, dG, dA, Sp, dh, UT)  # 1.-5.
            self.g["W"] += Xp.T @ dA                                   # 6., real positions only
            self.g["b"] += dA.sum(axis=0)
            self.g["U"] += Sp.T @ dG
            self.g["c"] += dG.sum(axis=0)
            return self._input_gradient(dA, W, rows, T, B), dh

        return S, scan_back
