"""NumPy twin of the ``_recurrent.pyx`` kernels: the GRU scans, same signatures, same numbers to rounding.

Notation and the numbered steps are those of :mod:`nertag.net.gru`; the layouts those of the comment in
``_recurrent.pyx``: ``lengths`` (B,) sorted in decreasing order and ``order`` (B,) the batch column of each
sorted row; "batch layout" arrays are indexed ``[position, column]``, "step layout" arrays ``[step, sorted
row]``, "packed" arrays (N, .) hold the real rows of the step layout only, step t from row
``o_t = k_0 + .. + k_{t-1}`` on. A step visits its k real rows, a prefix of the sorted rows, through the
index ``order`` (the batch itself is never permuted); reading in reverse, row i reads position
``lengths[i] - 1 - t`` at step t.
"""
from __future__ import annotations

import numpy as np


def _sigmoid_(x: np.ndarray) -> None:
    """In place: sigmoid(x) = (1 + tanh(x / 2)) / 2, without overflow for large |x|."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def _step_forward(a, g, c_n, h_prev, rzn, gn, h) -> None:
    """The elementwise part of one forward step (the compiled scan fuses it into its row loop).

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


def _step_backward(dh, dy, rzn, gn, h_prev, dg, da) -> None:
    """Backward steps 1-4 and the first term of 5 for the k real rows of one step.

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


def step_rows(lengths: np.ndarray, order: np.ndarray, reverse: bool, t: int):
    """Real rows ``k`` of step t, their batch columns ``(k,)`` and the positions ``(k,)`` they read and write.

    ``lengths`` (B,) sorted in decreasing order, ``order`` (B,) the batch column of each sorted row.
    """
    k = int(np.count_nonzero(lengths > t))
    positions = lengths[:k] - 1 - t if reverse else np.full(k, t)
    return k, order[:k], positions


def gru_scan_forward(A, X, W, bias, U, c_n, lengths, order, reverse, S, RZN, Gn, G, At, Xt, Y, P=None,
                     ids=None) -> None:
    """All steps of one GRU direction (twin of :func:`nertag.net._recurrent.gru_scan_forward`).

    Parameters
    ----------
    A : ndarray, shape (N, 3H), or None
        Input products ``x W`` of the N real positions, packed (row ``o_t + i``: row i at step t); None:
        computed at each step, from ``X`` (T, B, D) and ``W`` (D, 3H) (no (N, 3H) array).
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
    P, ids : ndarray, shapes (V, 3H), (T, B) int64, optional
        With ``A`` None: the input product at a position is ``P[ids[position, column]]`` (embedding rows).
    Y : ndarray, shape (T, B, H), or None
        Written: the outputs ``[position, column]``, 0 at padding; may be a view with a contiguous last axis.
        None: no outputs (only the states are wanted).
    """
    if Y is not None:
        Y[...] = 0
    T_real = int(lengths[0]) if len(lengths) else 0
    cache = RZN.shape[0] == T_real
    o = 0                                                                    # packed row of step t's row 0
    for t in range(T_real):
        k, cols, pos = step_rows(lengths, order, reverse, t)
        tc = t if cache else 0
        np.dot(S[t, :k], U, out=G[:k])                                       # (k, 3H) the one GEMM of the step
        if P is not None:
            a = P[ids[pos, cols]]                                            # (k, 3H) looked up
        else:
            a = X[pos, cols] @ W if A is None else A[o: o + k]                # (k, 3H)
        _step_forward(a + bias, G[:k], c_n, S[t, :k], RZN[tc, :k], Gn[tc, :k], S[t + 1, :k])
        S[t + 1, k:] = 0
        if Y is not None:
            Y[pos, cols] = S[t + 1, :k]
        o += k


def gru_scan_backward(dY, U, RZN, Gn, S, lengths, order, reverse, dG, dA, Sp, dh, UT) -> None:
    """Steps 1-5 for all steps of one direction, last first (twin of ``_recurrent.gru_scan_backward``).

    Parameters
    ----------
    dY : ndarray, shape (T, B, H), or None
        dL/dY indexed ``[position, column]`` (entries at padding are ignored); None: no output gradient.
    U, RZN, Gn, S, lengths, order, reverse : as in :func:`gru_scan_forward`
    dG, dA : ndarray, shape (N, 3H)
        Written, packed (row ``o_t + i``: row i at step t): dL/dg_t and dL/da_t of the real rows.
    Sp : ndarray, shape (N, H)
        Written, packed: ``h_{t-1}``, the states each step's recurrent product read (dU = Sp^T dG).
    dh : ndarray, shape (B, H)
        dL/dh_last of the sorted rows on entry (row i's running gradient is untouched until its last step,
        where it joins), dL/dh0 on return.
    UT : ndarray, shape (3H, H)
        Scratch of the compiled kernel (unused here).
    """
    T_real = int(lengths[0]) if len(lengths) else 0
    o = dG.shape[0]                                                        # packed row of step t's row 0
    for t in range(T_real - 1, -1, -1):
        k, cols, pos = step_rows(lengths, order, reverse, t)
        o -= k
        dy = np.zeros((k, U.shape[0]), dh.dtype) if dY is None else np.ascontiguousarray(dY[pos, cols])
        Sp[o: o + k] = S[t, :k]
        _step_backward(dh[:k], dy, RZN[t, :k], Gn[t, :k], S[t, :k], dG[o: o + k], dA[o: o + k])   # 1.-4.
        dh[:k] += dG[o: o + k] @ U.T                                       # 5. dh = dh z + dg U^T
