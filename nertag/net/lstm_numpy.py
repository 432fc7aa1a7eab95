"""NumPy twin of the ``_lstm.pyx`` kernels: the LSTM scans, same signatures, same numbers to rounding.

Notation and the numbered steps are those of :mod:`nertag.net.lstm`; the layouts those of the module
docstring of ``_lstm.pyx`` (and of the GRU's ``_recurrent.pyx``): ``lengths`` (B,) sorted in decreasing
order and ``order`` (B,) the batch column of each sorted row; "batch layout" arrays are indexed
``[position, column]``, "step layout" arrays ``[step, sorted row]``, "packed" arrays (N, .) hold the real
rows of the step layout only, step t from row ``o_t = k_0 + .. + k_{t-1}`` on. Each step is one BLAS
product of its k real rows, then about fifteen NumPy calls over (k, H) or (k, 4H) arrays, where the
compiled scan makes one pass.
"""
from __future__ import annotations

import numpy as np

from .recurrent_numpy import _sigmoid_, step_rows


def _step_forward(g, a, bias, c_prev, z, c, tc, h) -> None:
    """The elementwise part of one forward step for its k real rows.

    Parameters
    ----------
    g, a : ndarray, shape (k, 4H)
        ``h_{t-1} U`` and ``x_t W`` (without bias).
    bias : ndarray, shape (4H,)
    c_prev : ndarray, shape (k, H)
    z : ndarray, shape (k, 4H)
        Written: the gates ``[i | f | o | g]``.
    c, tc, h : ndarray, shape (k, H)
        Written: ``c_t``, ``tanh(c_t)`` and ``h_t``.
    """
    H = h.shape[1]
    np.add(g, a, out=z)
    z += bias                                                      # z_t = a_t + h_{t-1} U
    _sigmoid_(z[:, : 3 * H])                                       # i, f, o
    np.tanh(z[:, 3 * H:], out=z[:, 3 * H:])                        # g
    i, f, o, g = z[:, :H], z[:, H: 2 * H], z[:, 2 * H: 3 * H], z[:, 3 * H:]
    np.multiply(f, c_prev, out=c)
    c += i * g                                                     # c_t = f c_{t-1} + i g
    np.tanh(c, out=tc)
    np.multiply(o, tc, out=h)                                      # h_t = o tanh(c_t)


def _step_backward(dh, dc, dy, ifog, tc, c_prev, dz) -> None:
    """Backward steps 1-4 and the cell half of 5 for the k real rows of one step.

    Parameters
    ----------
    dh : ndarray, shape (k, H)
        dL/dh_t from later steps; overwritten with ``dh + dy`` (the caller then writes ``dz U^T``).
    dc : ndarray, shape (k, H)
        dL/dc_t from later steps; on return dL/dc_{t-1}.
    dy : ndarray, shape (k, H)
    ifog, tc, c_prev : ndarray, shapes (k, 4H), (k, H), (k, H)
        The forward cache of this step and the previous cell.
    dz : ndarray, shape (k, 4H)
        Written: dL/dz_t.
    """
    H = dh.shape[1]
    i, f, o, g = ifog[:, :H], ifog[:, H: 2 * H], ifog[:, 2 * H: 3 * H], ifog[:, 3 * H:]
    dh += dy                                                       # 1. dh += dy_t
    np.multiply(dh, tc, out=dz[:, 2 * H: 3 * H])                   # 2. do
    dc += dh * o * (1.0 - tc * tc)                                 # 2. dc += dh o (1 - tanh(c)^2)
    np.multiply(dc, g, out=dz[:, :H])                              # 3. di
    np.multiply(dc, c_prev, out=dz[:, H: 2 * H])                   # 3. df
    np.multiply(dc, i, out=dz[:, 3 * H:])                          # 3. dg
    gates = ifog[:, : 3 * H]
    dz[:, : 3 * H] *= gates * (1.0 - gates)                        # 4. dz_i, dz_f, dz_o = d s (1 - s)
    dz[:, 3 * H:] *= 1.0 - g * g                                   # 4. dz_g = dg (1 - g^2)
    dc *= f                                                        # 5. to c_{t-1}


def lstm_scan_forward(A, X, W, bias, U, lengths, order, reverse, S, C, IFOG, Tc, G, At, Xt, Y, P=None,
                      ids=None) -> None:
    """All steps of one LSTM direction (twin of :func:`nertag.net._lstm.lstm_scan_forward`).

    Parameters
    ----------
    A : ndarray, shape (N, 4H), or None
        Input products ``x W`` (without bias) of the N real positions, packed (row ``o_t + i``: row i at
        step t); None: computed at each step from ``X`` (T, B, D) and ``W`` (D, 4H).
    X, W : ndarray, shapes (T, B, D), (D, 4H)
    bias : ndarray, shape (4H,)
    U : ndarray, shape (H, 4H)
    lengths : ndarray of int64, shape (B,)
        Sequence lengths in decreasing order; ``order`` (B,) int64: the batch column of each sorted row.
    reverse : bool
        Read each sequence from its last real position to position 0.
    S : ndarray, shape (T_real + 1, B, H)
        ``S[0]``: initial states of the sorted rows; written: ``S[t + 1] = h_t`` (0 at padded rows).
    C : ndarray, shape (T_real + 1, B, H)
        Written: ``C[0] = 0`` and ``C[t + 1] = c_t`` (0 at padded rows).
    IFOG, Tc : ndarray, shapes (T_real, B, 4H), (T_real, B, H)
        Written: the gates ``[i | f | o | g]`` and ``tanh(c_t)`` of each step (sorted rows; padded rows
        unspecified). With one step only, (1, B, 4H) and (1, B, H), and ``C`` (2, B, H): scratch overwritten
        at every step (prediction), ``c_t`` in ``C[(t + 1) % 2]``.
    G, At, Xt : ndarray, shapes (B, 4H), (B, 4H), (B, D)
        Scratch for ``h_{t-1} U``, the step's ``x W`` and its gathered inputs (the last two unused here).
    Y : ndarray, shape (T, B, H), or None
        Written: the outputs ``[position, column]``, 0 at padding; may be a view with a contiguous last axis.
        None: no outputs (only the states are wanted).
    P, ids : ndarray, shapes (V, 4H), (T, B) int64, optional
        With ``A`` None: the input product at a position is ``P[ids[position, column]]`` (embedding rows).
    """
    if Y is not None:
        Y[...] = 0
    T_real = int(lengths[0]) if len(lengths) else 0
    cache = IFOG.shape[0] == T_real
    C[0] = 0
    o = 0                                                                    # packed row of step t's row 0
    for t in range(T_real):
        k, cols, pos = step_rows(lengths, order, reverse, t)
        tc = t if cache else 0
        c_prev, c_next = (t, t + 1) if cache else (t % 2, (t + 1) % 2)
        np.dot(S[t, :k], U, out=G[:k])                                       # (k, 4H) the one GEMM of the step
        if P is not None:
            a = P[ids[pos, cols]]                                            # (k, 4H) looked up
        else:
            a = X[pos, cols] @ W if A is None else A[o: o + k]               # (k, 4H)
        _step_forward(G[:k], a, bias, C[c_prev, :k], IFOG[tc, :k], C[c_next, :k], Tc[tc, :k], S[t + 1, :k])
        S[t + 1, k:] = 0
        C[c_next, k:] = 0
        if Y is not None:
            Y[pos, cols] = S[t + 1, :k]
        o += k


def lstm_scan_backward(dY, U, IFOG, Tc, C, S, lengths, order, reverse, dZ, Sp, dh, dc, UT) -> None:
    """Steps 1-5 for all steps of one direction, last first (twin of ``_lstm.lstm_scan_backward``).

    Parameters
    ----------
    dY : ndarray, shape (T, B, H), or None
        dL/dY indexed ``[position, column]`` (entries at padding are ignored); None: no output gradient.
    U, IFOG, Tc, C, S, lengths, order, reverse : as in :func:`lstm_scan_forward` (with the caches kept)
    dZ : ndarray, shape (N, 4H)
        Written, packed (row ``o_t + i``: row i at step t): dL/dz_t of the real rows.
    Sp : ndarray, shape (N, H)
        Written, packed: ``h_{t-1}``, the states each step's recurrent product read (dU = Sp^T dZ).
    dh : ndarray, shape (B, H)
        dL/dh_last of the sorted rows on entry (row i's running gradient is untouched until its last step,
        where it joins), dL/dh0 on return.
    dc : ndarray, shape (2, B, H)
        Scratch: the running dL/dc_t, set to 0 first (the last cell gets no gradient from outside); the
        compiled kernel reads and writes the halves in turn, here ``dc[0]`` is updated in place.
    UT : ndarray, shape (4H, H)
        Scratch of the compiled kernel for U^T (unused here).
    """
    T_real = int(lengths[0]) if len(lengths) else 0
    if IFOG.shape[0] != T_real or C.shape[0] != T_real + 1:
        raise ValueError("the forward pass kept no caches (prediction): nothing to run backward through")
    dc[...] = 0
    dc = dc[0]
    o = dZ.shape[0]                                                        # packed row of step t's row 0
    for t in range(T_real - 1, -1, -1):
        k, cols, pos = step_rows(lengths, order, reverse, t)
        o -= k
        dy = np.zeros((k, U.shape[0]), dh.dtype) if dY is None else dY[pos, cols]
        Sp[o: o + k] = S[t, :k]
        _step_backward(dh[:k], dc[:k], dy, IFOG[t, :k], Tc[t, :k], C[t, :k], dZ[o: o + k])   # 1.-5.
        np.dot(dZ[o: o + k], U.T, out=dh[:k])                              # 5. dh = dz U^T
