"""Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000) over
padded batches of uneven-length sequences.

Notation
--------
T, B, D, H    padded length, batch size, input size, state size
x_t  (B, D)   input at step t;  h_t (B, H) output state and c_t (B, H) cell after step t
h_{-1} = h0 (zeros unless given);  c_{-1} = 0 (the cell always starts empty)
W (D, 4H), U (H, 4H), b (4H,)   input and recurrent weights and the bias, gate blocks [i | f | o | g]
a_t = x_t W + b           (B, 4H)   input pre-activations, one GEMM for all t
z_t = a_t + h_{t-1} U     (B, 4H)   pre-activations, one GEMM per step:  [z_i | z_f | z_o | z_g]
i_t = sigmoid(z_i)                  input gate
f_t = sigmoid(z_f)                  forget gate (its bias starts at 1: Gers et al. 2000, Jozefowicz et al. 2015)
o_t = sigmoid(z_o)                  output gate
g_t = tanh(z_g)                     candidate
c_t = f_t * c_{t-1} + i_t * g_t
h_t = o_t * tanh(c_t)
Padding (t >= L_b): h and c pass unchanged and the output is 0; ``h_last[b] = h_{L_b - 1}[b]``.

Backward, for t = T-1 .. 0 on the real rows (dh, dc are the running dL/dh_t, dL/dc_t; dc starts at 0):
  1. dh  += dy_t
  2. do   = dh * tanh(c_t),   dc += dh * o * (1 - tanh(c_t)^2)       through h_t = o tanh(c_t)
  3. di   = dc * g,  df = dc * c_{t-1},  dg = dc * i                  through the cell update
  4. dz_i, dz_f, dz_o = di i (1 - i), df f (1 - f), do o (1 - o);   dz_g = dg (1 - g^2)   through the gates
  5. dh   = dz_t U^T,   dc = dc * f                                   to h_{t-1} and c_{t-1}
After the loop, over the N real positions at once:
  6. dW += X^T dZ,  db += sum(dZ),  dU += [h_{-1} .. h_{T-2}]^T dZ,  dX = dZ W^T,  dh0 = dh

Uneven lengths and reading backwards are handled exactly as in :mod:`nertag.net.gru` (see
:mod:`nertag.net.rnn`): the states are kept longest first, so the real rows of step t are the prefix
``[:k_t]`` of the sorted rows; inputs, outputs and their gradients stay in batch order and are reached
through ``order``; padded rows are never computed and get exactly zero gradient. The arrays of the
products over all positions (x W, dZ and the h_{t-1} of step 6) are packed in step order
(:meth:`Padded.step_rows`), N rows with no padding, so each of those products is one GEMM over real rows.

Kernel
------
Each direction runs its whole time loop in one call of ``lstm_scan_forward`` / ``lstm_scan_backward``:
the compiled scans of ``_lstm.pyx`` (``kernel="cython"``, the default: per step one BLAS product of the k_t
real rows, then one fused C loop over them for the gates and the cell, no Python and no allocation in
the loop) or their NumPy twins in :mod:`nertag.net.lstm_numpy` (``kernel="numpy"``, the tests' oracle),
chosen by :func:`nertag.net.kernels.select` as for the GRU. The caches (the gates, tanh(c_t), c_t and h_t)
are kept in step layout; at prediction they are one step of scratch, and from ``STEP_INPUT_MIN_BATCH``
sequences on x_t W is computed inside the loop for the real rows of each step.

References
----------
Hochreiter, Schmidhuber (1997). Long short-term memory. Neural Computation 9(8).
Gers, Schmidhuber, Cummins (2000). Learning to forget: continual prediction with LSTM. Neural Computation 12(10).
Jozefowicz, Zaremba, Sutskever (2015). An empirical exploration of recurrent network architectures. ICML.
"""
from __future__ import annotations

import numpy as np

from . import init
from .kernels import select
from .rnn import Recurrent

# From this batch size on, prediction computes the input products x_t W inside the time loop for the real
# rows of each step instead of one GEMM over all real positions before it, as the GRU does (the value is the
# GRU's, measured there: below it the per-step products of a few rows run too far below peak).
STEP_INPUT_MIN_BATCH = 64


def forget_bias_one(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """The LSTM bias ``(4H,)``: 0 for the i, o and g blocks, 1 for the forget gate (Gers et al. 2000).

    A forget gate near sigmoid(1) = 0.73 at the start keeps the cell's memory and its gradient alive over
    many steps, which Jozefowicz et al. (2015) found closes most of the gap between the LSTM and the GRU.
    """
    b = np.zeros(shape)
    H = shape[0] // 4
    b[H: 2 * H] = 1.0
    return b


class LSTM(Recurrent):
    """LSTM layer over time-major padded batches.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.
    kernel : {"cython", "numpy"}
        "cython" (default): the whole time loop of a direction in one compiled call (BLAS for the recurrent
        GEMM, one fused elementwise loop per step); "numpy": its twins in :mod:`nertag.net.lstm_numpy` (the
        test oracle). Both agree to rounding.

    Notes
    -----
    Equations and the numbered backward steps are in the module docstring. Parameters: ``W (D, 4H)``
    Glorot uniform, ``U (H, 4H)`` orthogonal per gate block, ``b (4H,)`` zeros but 1 on the forget gate,
    without weight decay; ``4 * (D*H + H*H + H)`` in all. One bias suffices (the GRU needs two because its
    reset gate multiplies the recurrent product before the candidate's bias is added). Use :meth:`run` for
    the final states ``h_last`` and the gradient w.r.t. the initial state ``h0``; the cell starts at 0 and
    is not returned.

    References
    ----------
    Hochreiter & Schmidhuber (1997); Gers et al. (2000); Jozefowicz et al. (2015).
    """

    def __init__(self, n_in: int, n_hidden: int, *, kernel: str = "cython"):
        super().__init__(n_in, n_hidden)
        self._kernels = select("lstm", kernel)
        self.kernel = kernel
        D, H = self.n_in, self.n_hidden
        self.param("W", (D, 4 * H), init.glorot_uniform)
        self.param("U", (H, 4 * H), init.orthogonal)
        self.param("b", (4 * H,), forget_bias_one, decay=False)

    def final_states_of_ids(self, ids, table, padded, reverse: bool = False) -> np.ndarray:
        """Prediction only: ``h_last`` (B, H) when the input at each position is the row ``table[ids]``.

        ``x_t W`` is then a row of ``table W`` (V, 4H), which the scan reads in place, as the GRU's does: no
        (T, B, D) inputs and no product per position. Equal to ``run(table[ids], ...)[1]`` up to rounding.
        """
        W, U, b = self.p["W"], self.p["U"], self.p["b"]
        dtype, B, H, ws = W.dtype, ids.shape[1], self.n_hidden, self._workspace

        def scan(projected, ids, padded, S, none):
            self._kernels.lstm_scan_forward(None, none, W, b, U, padded.sorted_lengths, padded.order, reverse, S,
                                            ws.take((2, B, H), dtype), ws.take((1, B, 4 * H), dtype),
                                            ws.take((1, B, H), dtype), ws.take((B, 4 * H), dtype),
                                            ws.take((B, 4 * H), dtype), ws.take((B, 0), dtype), None,
                                            projected, ids)

        return self._final_states_by_lookup(ids, table, padded, scan)

    def _scan(self, X, padded, h0, reverse, Y, grad):
        """One direction through the compiled scan or its twin; see :meth:`Recurrent._scan`.

        With ``grad=False`` the caches are one step of scratch (less memory traffic), not kept.
        """
        W, U, b = self.p["W"], self.p["U"], self.p["b"]
        dtype = W.dtype
        T, B, D = X.shape
        H = self.n_hidden
        order, lengths, T_real = padded.order, padded.sorted_lengths, padded.T_real
        X3 = np.ascontiguousarray(X)
        ws = self._workspace
        rows = padded.step_rows(reverse)                               # (N,) real positions, step order
        N = rows.shape[0]
        A = Xp = None                                                  # x_t W inside the scan
        if grad or B < STEP_INPUT_MIN_BATCH:                           # one GEMM over the real positions
            Xp = np.take(X3.reshape(T * B, D), rows, axis=0, out=ws.take((N, D), dtype))   # (N, D)
            A = np.matmul(Xp, W, out=ws.take((N, 4 * H), dtype))                           # (N, 4H) packed
            if not grad:
                Xp = None
        S = ws.take((T_real + 1, B, H), dtype)                         # S[t + 1] = h_t, sorted rows
        S[0] = 0 if h0 is None else h0[order]
        steps = T_real if grad else 1                                  # prediction: one step of scratch
        C = ws.take((steps + 1, B, H), dtype)                          # C[t + 1] = c_t, sorted rows
        IFOG = ws.take((steps, B, 4 * H), dtype)                       # (T_real, B, 4H)  [i | f | o | g]
        Tc = ws.take((steps, B, H), dtype)                             # (T_real, B, H)   tanh(c_t)
        G = ws.take((B, 4 * H), dtype)                                 # (B, 4H)  h_{t-1} U, per step
        At, Xt = ws.take((B, 4 * H), dtype), ws.take((B, D), dtype)    # x_t W and x_t, per step (A is None)
        self._kernels.lstm_scan_forward(A, X3, W, b, U, lengths, order, reverse, S, C, IFOG, Tc, G, At, Xt, Y)
        del A, G, At, Xt                                               # back to the workspace

        def scan_back(dY, dh):
            dZ = ws.take((N, 4 * H), dtype)                            # (N, 4H)  dL/dz_t, packed
            Sp = ws.take((N, H), dtype)                                # (N, H)   h_{t-1}, packed
            dc = ws.take((2, B, H), dtype)                             # (2, B, H) running dL/dc_t
            UT = ws.take((4 * H, H), dtype)                            # (4H, H)  U^T, step 5's operand
            self._kernels.lstm_scan_backward(dY, U, IFOG, Tc, C, S, lengths, order, reverse,    # 1.-5.
                                             dZ, Sp, dh, dc, UT)
            self.g["W"] += Xp.T @ dZ                                   # 6., real positions only
            self.g["b"] += dZ.sum(axis=0)
            self.g["U"] += Sp.T @ dZ
            return self._input_gradient(dZ, W, rows, T, B), dh

        return S, scan_back
