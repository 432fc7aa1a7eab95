# cython: language_level=3
"""Cython kernels of the linear-chain CRF: forward-backward and Viterbi over a padded batch.

Notation (as in :mod:`nertag.net.crf_numpy`, whose functions are the NumPy twins of these)
-------------------------------------------------------------------------------------------
E[t, b, j]   emission score of tag j at position t of sequence b, time-major ``(T, B, K)``
A[i, j]      transition score of tag i -> tag j (``-inf`` forbids it); s[j], e[j] start and end scores
L            ``lengths[b]``; positions ``t < L`` are real
alpha[t, j]  = E[t, j] + lse_i(alpha[t-1, i] + A[i, j]),   alpha[0, j] = s[j] + E[0, j]
beta[t, i]   = lse_j(A[i, j] + E[t+1, j] + beta[t+1, j]),  beta[L-1, i] = e[i]
log Z        = lse_j(alpha[L-1, j] + e[j])
P(y_t = j)            = exp(alpha[t, j] + beta[t, j] - log Z)
P(y_t = i, y_t+1 = j) = exp(alpha[t, i] + A[i, j] + w[j] - log Z),  w[j] = E[t+1, j] + beta[t+1, j]
delta[t, j]  = E[t, j] + max_i(delta[t-1, i] + A[i, j]),  psi[t, j] = first argmax (Viterbi)

Each kernel loops over b, then t, in C without the GIL; every sum, max and log-sum-exp is carried in
double whatever the emission dtype (float32 or float64, the fused ``floating`` type). Scratch rows
(alpha and beta ``(T, K)``, two Viterbi rows, back pointers ``(T, K)``) are allocated once per call and
reused for every sequence. Callers validate shapes, dtypes and lengths (:mod:`nertag.net.crf`).
"""
cimport cython
from cython cimport floating
from libc.math cimport INFINITY, exp, log

import numpy as np


cdef inline void _to_double(const floating[:, ::1] A, const floating[::1] start, const floating[::1] end,
                            double[:, ::1] Ad, double[::1] sd, double[::1] ed) noexcept nogil:
    cdef Py_ssize_t i, j, K = A.shape[0]
    for i in range(K):
        sd[i] = start[i]
        ed[i] = end[i]
        for j in range(K):
            Ad[i, j] = A[i, j]


cdef double _TINY = 1e-280   # below this a shifted sum may have lost terms to underflow: recompute exactly


cdef inline double _max(const double[::1] x, Py_ssize_t K) noexcept nogil:
    cdef double m = -INFINITY
    cdef Py_ssize_t i
    for i in range(K):
        if x[i] > m:
            m = x[i]
    return m


cdef inline double _lse_column(const double[::1] prev, const double[:, ::1] Ad, Py_ssize_t j,
                               Py_ssize_t K) noexcept nogil:
    """lse_i(prev[i] + A[i, j]) with the exact per-column max (-inf when every term is -inf)."""
    cdef double m = -INFINITY, s = 0.0, v
    cdef Py_ssize_t i
    for i in range(K):
        v = prev[i] + Ad[i, j]
        if v > m:
            m = v
    if m == -INFINITY:
        return -INFINITY
    for i in range(K):
        s += exp(prev[i] + Ad[i, j] - m)
    return m + log(s)


cdef inline double _lse_row_exact(double alpha_i, const double[:, ::1] Ad, const double[::1] w, Py_ssize_t i,
                                  Py_ssize_t K, double z, bint pairs, double[:, ::1] pair_sum_out) noexcept nogil:
    """beta[t, i] = lse_j(A[i, j] + w[j]) with the exact per-row max (-inf when every term is -inf); with
    ``pairs``, also adds row i of the pair marginals, exp(A[i, j] + w[j] - m) * exp(alpha[t, i] + m - log Z),
    the last factor <= 1."""
    cdef double m = -INFINITY, s = 0.0, v, ef = 0.0
    cdef Py_ssize_t j
    for j in range(K):
        v = Ad[i, j] + w[j]
        if v > m:
            m = v
    if m == -INFINITY:
        return -INFINITY
    if pairs:
        ef = exp(alpha_i + m - z)
    for j in range(K):
        v = exp(Ad[i, j] + w[j] - m)
        s += v
        if pairs:
            pair_sum_out[i, j] += v * ef
    return m + log(s)


# ----------------------------------------------------------------------------------------------------------
# Alpha and beta of one sequence at a time, over its real positions only: forward_backward and
# span_log_probability share them.
# ----------------------------------------------------------------------------------------------------------

cdef inline void _shifted_transitions(const double[:, ::1] Ad, double[::1] cmax, double[::1] rmax,
                                      double[:, ::1] expAT, double[:, ::1] expAr) noexcept nogil:
    """cmax[j] = max_i A[i, j], rmax[i] = max_j A[i, j]; expAT[j, i] = exp(A[i, j] - cmax[j]),
    expAr[i, j] = exp(A[i, j] - rmax[i]) (0 where the column / row is all -inf)."""
    cdef Py_ssize_t i, j, K = Ad.shape[0]
    for i in range(K):
        cmax[i] = -INFINITY
        rmax[i] = -INFINITY
    for i in range(K):
        for j in range(K):
            if Ad[i, j] > cmax[j]:
                cmax[j] = Ad[i, j]
            if Ad[i, j] > rmax[i]:
                rmax[i] = Ad[i, j]
    for i in range(K):
        for j in range(K):
            expAT[j, i] = 0.0 if cmax[j] == -INFINITY else exp(Ad[i, j] - cmax[j])
            expAr[i, j] = 0.0 if rmax[i] == -INFINITY else exp(Ad[i, j] - rmax[i])


cdef double _alpha_beta_one(const floating[:, :, ::1] E, Py_ssize_t b, Py_ssize_t L, const double[:, ::1] Ad,
                            const double[::1] sd, const double[::1] ed, const double[::1] cmax,
                            const double[::1] rmax, const double[:, ::1] expAT, const double[:, ::1] expAr,
                            double[::1] u, double[::1] w, double[:, ::1] alpha, double[:, ::1] beta,
                            bint pairs, double[:, ::1] pair_sum_out) noexcept nogil:
    """Fill ``alpha[:L]`` and ``beta[:L]`` of sequence b; return its log Z. With ``pairs`` (and log Z > -inf),
    also add its pair marginals ``P(y_t = i, y_t+1 = j)`` to ``pair_sum_out``, fused into the backward pass.

    Each log-sum-exp is shifted twice, by the max over the previous vector and by the max of the
    transition column (row, backward), so it costs K exps and K^2 multiply-adds instead of K^2 exps:

        lse_i(alpha[t-1, i] + A[i, j]) = ma + c[j] + log sum_i exp(alpha[t-1, i] - ma) * exp(A[i, j] - c[j])

    with ma = max_i alpha[t-1, i], c[j] = max_i A[i, j] (``cmax``, ``expAT``; ``rmax``, ``expAr`` backward).
    Every factor is <= 1, so a term can only be lost to underflow when its true value is below ~1e-308; when
    the sum falls under ``_TINY`` (such terms could matter) it is recomputed with the exact max, as in the
    NumPy twin.

    About 90 lines, on purpose: the forward pass, log Z and the backward pass of one sequence use the same
    scratch and shifted transitions, numbered 1-3 below; split into functions, each would take a dozen
    buffers again, and the steps read best in order.
    """
    cdef Py_ssize_t K = E.shape[2], t, i, j
    cdef double m, s, z, ef
    # 1. Forward: alpha[0, j] = s[j] + E[0, j]; alpha[t, j] = E[t, j] + lse_i(alpha[t-1, i] + A[i, j]).
    for j in range(K):
        alpha[0, j] = sd[j] + <double>E[0, b, j]
    for t in range(1, L):
        m = _max(alpha[t - 1], K)
        if m == -INFINITY:
            for j in range(K):
                alpha[t, j] = -INFINITY
            continue
        for i in range(K):
            u[i] = exp(alpha[t - 1, i] - m)
        for j in range(K):
            if cmax[j] == -INFINITY:
                alpha[t, j] = -INFINITY
                continue
            s = 0.0
            for i in range(K):
                s += u[i] * expAT[j, i]
            if s >= _TINY:
                alpha[t, j] = <double>E[t, b, j] + m + cmax[j] + log(s)
            else:
                alpha[t, j] = <double>E[t, b, j] + _lse_column(alpha[t - 1], Ad, j, K)
    # 2. log Z = lse_j(alpha[L-1, j] + e[j]); no pair marginals for a sequence that nothing can score.
    for j in range(K):
        w[j] = alpha[L - 1, j] + ed[j]
    m = _max(w, K)
    if m == -INFINITY:
        z = -INFINITY
        pairs = False
    else:
        s = 0.0
        for j in range(K):
            s += exp(w[j] - m)
        z = m + log(s)
    # 3. Backward: beta[L-1, i] = e[i]; beta[t, i] = lse_j(A[i, j] + w[j]), w[j] = E[t+1, j] + beta[t+1, j].
    #    With m = max_j w[j], u[j] = exp(w[j] - m) and S_i = sum_j exp(A[i, j] - rmax[i]) u[j]:
    #    beta[t, i] = rmax[i] + m + log S_i and
    #    P(y_t = i, y_t+1 = j) = exp(alpha[t, i] + rmax[i] + m - log Z) exp(A[i, j] - rmax[i]) u[j].
    for i in range(K):
        beta[L - 1, i] = ed[i]
    for t in range(L - 2, -1, -1):
        for j in range(K):
            w[j] = <double>E[t + 1, b, j] + beta[t + 1, j]
        m = _max(w, K)
        if m == -INFINITY:
            for i in range(K):
                beta[t, i] = -INFINITY
            continue
        for j in range(K):
            u[j] = exp(w[j] - m)
        for i in range(K):
            if rmax[i] == -INFINITY:
                beta[t, i] = -INFINITY
                continue
            s = 0.0
            for j in range(K):
                s += expAr[i, j] * u[j]
            if s >= _TINY:
                beta[t, i] = rmax[i] + m + log(s)
                if pairs and alpha[t, i] != -INFINITY:
                    ef = exp(alpha[t, i] + rmax[i] + m - z)
                    for j in range(K):
                        pair_sum_out[i, j] += ef * expAr[i, j] * u[j]
            else:
                beta[t, i] = _lse_row_exact(alpha[t, i], Ad, w, i, K, z, pairs, pair_sum_out)
    return z


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def forward_backward(const floating[:, :, ::1] E, const long long[::1] lengths, const floating[:, ::1] A,
                     const floating[::1] start, const floating[::1] end,
                     floating[:, :, ::1] marginals_out, double[:, ::1] pair_sum_out):
    """Log Z ``(B,)`` of each sequence; overwrites ``marginals_out (T, B, K)`` with ``P(y_t = j)`` (0 at
    padding) and ``pair_sum_out (K, K)`` with ``sum_b sum_t P(y_t = i, y_t+1 = j)``.

    A sequence that no tag sequence can score gets log Z = -inf and marginals 0. The recursions (and the
    pair marginals, fused into the backward pass) are :func:`_alpha_beta_one`'s, one sequence at a time.
    """
    cdef Py_ssize_t T = E.shape[0], B = E.shape[1], K = E.shape[2]
    cdef Py_ssize_t b, t, i, j, L
    cdef double z
    logZ_array = np.empty(B, dtype=np.float64)
    cdef double[::1] logZ = logZ_array
    cdef double[:, ::1] alpha = np.empty((max(T, 1), K), dtype=np.float64)
    cdef double[:, ::1] beta = np.empty((max(T, 1), K), dtype=np.float64)
    cdef double[::1] u = np.empty(K, dtype=np.float64)                 # exp(alpha[t-1] - max), exp(w - max)
    cdef double[::1] w = np.empty(K, dtype=np.float64)
    cdef double[:, ::1] Ad = np.empty((K, K), dtype=np.float64)
    cdef double[::1] sd = np.empty(K, dtype=np.float64)
    cdef double[::1] ed = np.empty(K, dtype=np.float64)
    cdef double[::1] cmax = np.empty(K, dtype=np.float64)              # max_i A[i, j]
    cdef double[::1] rmax = np.empty(K, dtype=np.float64)              # max_j A[i, j]
    cdef double[:, ::1] expAT = np.empty((K, K), dtype=np.float64)     # [j, i] = exp(A[i, j] - cmax[j])
    cdef double[:, ::1] expAr = np.empty((K, K), dtype=np.float64)     # [i, j] = exp(A[i, j] - rmax[i])
    with nogil:
        _to_double(A, start, end, Ad, sd, ed)
        _shifted_transitions(Ad, cmax, rmax, expAT, expAr)
        for i in range(K):
            for j in range(K):
                pair_sum_out[i, j] = 0.0
        for b in range(B):
            L = lengths[b]
            z = _alpha_beta_one(E, b, L, Ad, sd, ed, cmax, rmax, expAT, expAr, u, w, alpha, beta,
                                True, pair_sum_out)
            logZ[b] = z
            for t in range(L, T):
                for j in range(K):
                    marginals_out[t, b, j] = 0.0
            if z == -INFINITY:
                for t in range(L):
                    for j in range(K):
                        marginals_out[t, b, j] = 0.0
                continue
            # P(y_t = j) = exp(alpha[t, j] + beta[t, j] - log Z)
            for t in range(L):
                for j in range(K):
                    marginals_out[t, b, j] = exp(alpha[t, j] + beta[t, j] - z)
    return logZ_array


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def viterbi(const floating[:, :, ::1] E, const long long[::1] lengths, const floating[:, ::1] A,
            const floating[::1] start, const floating[::1] end):
    """Best paths ``(T, B)`` int64 (0 at padding; ties to the lowest tag) and their scores ``(B,)`` float64."""
    cdef Py_ssize_t T = E.shape[0], B = E.shape[1], K = E.shape[2]
    cdef Py_ssize_t b, t, i, j, L, cur, prev, arg
    cdef double best, v
    paths_array = np.zeros((T, B), dtype=np.int64)
    scores_array = np.empty(B, dtype=np.float64)
    cdef long long[:, ::1] paths = paths_array
    cdef double[::1] scores = scores_array
    cdef double[:, ::1] delta = np.empty((2, K), dtype=np.float64)    # rows t % 2 and (t - 1) % 2
    cdef Py_ssize_t[:, ::1] psi = np.empty((max(T, 1), K), dtype=np.intp)
    cdef double[:, ::1] Ad = np.empty((K, K), dtype=np.float64)
    cdef double[::1] sd = np.empty(K, dtype=np.float64)
    cdef double[::1] ed = np.empty(K, dtype=np.float64)
    with nogil:
        _to_double(A, start, end, Ad, sd, ed)
        for b in range(B):
            L = lengths[b]
            # 1. delta[t, j] = E[t, j] + max_i(delta[t-1, i] + A[i, j]); psi[t, j] = first argmax.
            for j in range(K):
                delta[0, j] = sd[j] + <double>E[0, b, j]
            for t in range(1, L):
                cur = t % 2
                prev = 1 - cur
                for j in range(K):
                    best = delta[prev, 0] + Ad[0, j]
                    arg = 0
                    for i in range(1, K):
                        v = delta[prev, i] + Ad[i, j]
                        if v > best:
                            best = v
                            arg = i
                    delta[cur, j] = best + <double>E[t, b, j]
                    psi[t, j] = arg
            # 2. Best last tag, then follow the back pointers.
            cur = (L - 1) % 2
            best = delta[cur, 0] + ed[0]
            arg = 0
            for j in range(1, K):
                v = delta[cur, j] + ed[j]
                if v > best:
                    best = v
                    arg = j
            scores[b] = best
            paths[L - 1, b] = arg
            for t in range(L - 1, 0, -1):
                arg = psi[t, arg]
                paths[t - 1, b] = arg
    return paths_array, scores_array


# ----------------------------------------------------------------------------------------------------------
# Span log-probabilities.
# ----------------------------------------------------------------------------------------------------------

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def span_log_probability(const floating[:, :, ::1] E, const long long[::1] lengths, const floating[:, ::1] A,
                         const floating[::1] start, const floating[::1] end, const long long[:, ::1] tags,
                         const long long[:, ::1] spans):
    """``log P(y_first..y_stop-1 = tags[first:stop, b])`` ``(n,)`` float64 for span rows ``(b, first, stop)``.

    With ``i = first``, ``j = stop - 1``: ``alpha[i, y_i] + sum_{t=i+1}^{j} (A[y_{t-1}, y_t] + E[t, y_t])
    + beta[j, y_j] - log Z``. Spans are taken in order of their sequence; alpha and beta are computed once
    for each sequence that has a span, over its real positions ``0..L_b-1`` only.
    """
    cdef Py_ssize_t T = E.shape[0], K = E.shape[2], n = spans.shape[0]
    cdef Py_ssize_t r, k, b, t, first, last, current = -1
    cdef double z = 0.0, inside
    out_array = np.empty(n, dtype=np.float64)
    cdef double[::1] out = out_array
    cdef Py_ssize_t[::1] order = np.argsort(np.asarray(spans[:, 0]), kind="stable").astype(np.intp)
    cdef double[:, ::1] alpha = np.empty((max(T, 1), K), dtype=np.float64)
    cdef double[:, ::1] beta = np.empty((max(T, 1), K), dtype=np.float64)
    cdef double[::1] u = np.empty(K, dtype=np.float64)
    cdef double[::1] w = np.empty(K, dtype=np.float64)
    cdef double[:, ::1] Ad = np.empty((K, K), dtype=np.float64)
    cdef double[::1] sd = np.empty(K, dtype=np.float64)
    cdef double[::1] ed = np.empty(K, dtype=np.float64)
    cdef double[::1] cmax = np.empty(K, dtype=np.float64)
    cdef double[::1] rmax = np.empty(K, dtype=np.float64)
    cdef double[:, ::1] expAT = np.empty((K, K), dtype=np.float64)
    cdef double[:, ::1] expAr = np.empty((K, K), dtype=np.float64)
    cdef double[:, ::1] no_pairs = np.empty((0, 0), dtype=np.float64)
    with nogil:
        _to_double(A, start, end, Ad, sd, ed)
        _shifted_transitions(Ad, cmax, rmax, expAT, expAr)
        for r in range(n):
            k = order[r]
            b = spans[k, 0]
            if b != current:
                current = b
                z = _alpha_beta_one(E, b, lengths[b], Ad, sd, ed, cmax, rmax, expAT, expAr, u, w, alpha, beta,
                                    False, no_pairs)
            first = spans[k, 1]
            last = spans[k, 2] - 1
            inside = 0.0
            for t in range(first + 1, last + 1):
                inside += Ad[tags[t - 1, b], tags[t, b]] + <double>E[t, b, tags[t, b]]
            out[k] = alpha[first, tags[first, b]] + inside + beta[last, tags[last, b]] - z
    return out_array
