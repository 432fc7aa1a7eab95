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
through ``order``; padded rows are never computed and get exactly zero gradient. The per-position arrays
(x W, then the gates in place of it, tanh(c), dZ and the h_{t-1} of step 6) are packed in step order
(:meth:`Padded.step_rows`), N rows with no padding.

Kernel
------
The time loop is NumPy: per step one BLAS product ``h_{t-1} U`` of k_t rows, then about fifteen elementwise
array operations, each a Python-level call with its own pass over a (k_t, H) or (k_t, 4H) array. A compiled
scan like ``_recurrent``'s GRU scan would fuse each step's elementwise work into one loop over its rows
(one pass over memory, no temporaries, no per-call overhead: what dominates at the small k_t of character
batches and of the last steps of a sorted batch), call BLAS without the GIL, and compute x_t W inside the
loop at prediction; it would come with a NumPy twin, this module's loop.

References
----------
Hochreiter, Schmidhuber (1997). Long short-term memory. Neural Computation 9(8).
Gers, Schmidhuber, Cummins (2000). Learning to forget: continual prediction with LSTM. Neural Computation 12(10).
Jozefowicz, Zaremba, Sutskever (2015). An empirical exploration of recurrent network architectures. ICML.
"""
from __future__ import annotations

from itertools import accumulate

import numpy as np

from . import init
from .recurrent_numpy import _sigmoid_, step_rows
from .rnn import Recurrent


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

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__(n_in, n_hidden)
        D, H = self.n_in, self.n_hidden
        self.param("W", (D, 4 * H), init.glorot_uniform)
        self.param("U", (H, 4 * H), init.orthogonal)
        self.param("b", (4 * H,), forget_bias_one, decay=False)

    def _scan(self, X, padded, h0, reverse, Y, grad):
        """One direction, the time loop in NumPy; see :meth:`Recurrent._scan`."""
        W, U, b = self.p["W"], self.p["U"], self.p["b"]
        dtype = W.dtype
        T, B, D = X.shape
        H = self.n_hidden
        order, lengths, T_real = padded.order, padded.sorted_lengths, padded.T_real
        steps = [step_rows(lengths, order, reverse, t) for t in range(T_real)]   # (k, cols, positions)
        offsets = [0, *accumulate(k for k, _, _ in steps)]             # step t: packed rows o_t .. o_{t+1}
        ws = self._workspace
        X2 = np.ascontiguousarray(X).reshape(T * B, D)
        rows = padded.step_rows(reverse)                               # (N,) real positions, step order
        N = rows.shape[0]
        Xp = np.take(X2, rows, axis=0, out=ws.take((N, D), dtype))     # (N, D)
        Z = np.matmul(Xp, W, out=ws.take((N, 4 * H), dtype))           # (N, 4H)  a_t, then the gates
        Z += b
        if not grad:
            Xp = None
        S = ws.take((T_real + 1, B, H), dtype)                         # S[t + 1] = h_t, sorted rows
        C = ws.take((T_real + 1, B, H), dtype)                         # C[t + 1] = c_t, sorted rows
        S[0] = 0 if h0 is None else h0[order]
        C[0] = 0
        Tc = ws.take((N, H), dtype)                                    # (N, H)  tanh(c_t), packed
        ig = ws.take((B, H), dtype)                                    # (B, H)  i * g, per step
        if Y is not None:                                              # None: final states only
            Y[...] = 0
        for t, (k, cols, pos) in enumerate(steps):
            z = Z[offsets[t]: offsets[t + 1]]                          # (k, 4H) view: [i | f | o | g]
            z += S[t, :k] @ U                                          # z_t = a_t + h_{t-1} U
            _sigmoid_(z[:, : 3 * H])                                   # i, f, o
            np.tanh(z[:, 3 * H:], out=z[:, 3 * H:])                    # g
            i, f, o, g = z[:, :H], z[:, H: 2 * H], z[:, 2 * H: 3 * H], z[:, 3 * H:]
            c, tc, h = C[t + 1, :k], Tc[offsets[t]: offsets[t + 1]], S[t + 1, :k]   # (k, H) each
            np.multiply(f, C[t, :k], out=c)
            c += np.multiply(i, g, out=ig[:k])                         # c_t = f c_{t-1} + i g
            np.tanh(c, out=tc)
            np.multiply(o, tc, out=h)                                  # h_t = o tanh(c_t)
            S[t + 1, k:] = 0
            C[t + 1, k:] = 0
            if Y is not None:
                Y[pos, cols] = h
        del ig

        def scan_back(dY, dh):
            dZ = ws.take((N, 4 * H), dtype)                            # (N, 4H)  dL/dz_t, packed
            Sp = ws.take((N, H), dtype)                                # (N, H)   h_{t-1}, packed
            dc = np.zeros((B, H), dtype)                               # (B, H)   running dL/dc_t
            tmp = ws.take((B, H), dtype)                               # (B, H)   per-step scratch
            UT = np.ascontiguousarray(U.T)                             # (4H, H)  faster GEMM than the view
            for t in range(T_real - 1, -1, -1):
                k, cols, pos = steps[t]
                lo, hi = offsets[t], offsets[t + 1]
                z, dz, tc = Z[lo: hi], dZ[lo: hi], Tc[lo: hi]          # (k, 4H), (k, 4H), (k, H)
                i, f, o, g = z[:, :H], z[:, H: 2 * H], z[:, 2 * H: 3 * H], z[:, 3 * H:]
                dh_k, dc_k, s = dh[:k], dc[:k], tmp[:k]
                if dY is not None:
                    dh_k += dY[pos, cols]                              # 1. dh += dy_t
                np.multiply(dh_k, tc, out=dz[:, 2 * H: 3 * H])         # 2. do
                np.multiply(tc, tc, out=s)
                np.subtract(1.0, s, out=s)
                s *= o
                s *= dh_k
                dc_k += s                                              # 2. dc += dh o (1 - tanh(c)^2)
                np.multiply(dc_k, g, out=dz[:, :H])                    # 3. di
                np.multiply(dc_k, C[t, :k], out=dz[:, H: 2 * H])       # 3. df
                np.multiply(dc_k, i, out=dz[:, 3 * H:])                # 3. dg
                gates, dgates = z[:, : 3 * H], dz[:, : 3 * H]          # (k, 3H)  [i | f | o]
                dgates *= gates
                dgates -= dgates * gates                               # 4. d * s (1 - s)
                np.multiply(g, g, out=s)
                np.subtract(1.0, s, out=s)
                dz[:, 3 * H:] *= s                                     # 4. dz_g = dg (1 - g^2)
                dc_k *= f                                              # 5. to c_{t-1}
                np.dot(dz, UT, out=dh_k)                               # 5. to h_{t-1}
                Sp[lo: hi] = S[t, :k]
            self.g["W"] += Xp.T @ dZ                                   # 6., real positions only
            self.g["b"] += dZ.sum(axis=0)
            self.g["U"] += Sp.T @ dZ
            return self._input_gradient(dZ, W, rows, T, B), dh

        return S, scan_back
