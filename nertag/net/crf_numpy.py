"""Pure-NumPy twins of the linear-chain CRF kernels in ``_crf.pyx``, plus k-best Viterbi.

Each function here has the signature of the kernel of the same name and computes the same numbers
(to rounding), vectorised over the batch with a Python loop over time. They are the oracle of the kernel
tests and the readable statement of what the kernels compute; :mod:`nertag.net.crf` validates input and
dispatches to either. No input checking happens here: arrays are assumed C-contiguous, of matching
float dtype, with ``1 <= lengths[b] <= T``.

Notation
--------
E[t, b, j]   emission score of tag j at position t of sequence b, time-major ``(T, B, K)``
A[i, j]      transition score of tag i -> tag j, ``(K, K)``; ``-inf`` forbids the transition
s[j], e[j]   score of starting, ending a sequence with tag j, ``(K,)``
L_b          ``lengths[b]``; position t of sequence b is real iff ``t < L_b``
score(y)     s[y_0] + sum_{t<L} E[t, y_t] + sum_{0<t<L} A[y_{t-1}, y_t] + e[y_{L-1}]
alpha[t, j]  log of the summed exp-scores of all prefixes y_0..y_t with y_t = j:
                 alpha[0, j] = s[j] + E[0, j]
                 alpha[t, j] = E[t, j] + lse_i(alpha[t-1, i] + A[i, j])
beta[t, i]   log of the summed exp-scores of all suffixes after y_t = i:
                 beta[L-1, i] = e[i]
                 beta[t, i]   = lse_j(A[i, j] + E[t+1, j] + beta[t+1, j])
log Z        lse_j(alpha[L-1, j] + e[j])  (= lse_j(alpha[t, j] + beta[t, j]) for every real t)
P(y_t = j)              = exp(alpha[t, j] + beta[t, j] - log Z)
P(y_t = i, y_t+1 = j)   = exp(alpha[t, i] + A[i, j] + E[t+1, j] + beta[t+1, j] - log Z)
delta[t, j]  Viterbi: alpha with max in place of lse; psi[t, j] = argmax_i (back pointer)

All accumulation is in float64 whatever the input dtype. ``lse`` is log-sum-exp; over an all ``-inf``
row it is ``-inf``. Padding positions get alpha = beta = -inf, marginal 0 and path tag 0.
"""
from __future__ import annotations

import numpy as np

NEG_INF = -np.inf


def logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(x), axis))`` computed stably in float64; ``-inf`` where every term is ``-inf``."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _as64(E, A, start, end):
    return (np.asarray(E, np.float64), np.asarray(A, np.float64),
            np.asarray(start, np.float64), np.asarray(end, np.float64))


def alpha_beta(E: np.ndarray, lengths: np.ndarray, A: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Forward and backward log-scores of a padded batch.

    Parameters
    ----------
    E : ndarray, shape (T, B, K)
    lengths : ndarray of int64, shape (B,)
    A : ndarray, shape (K, K)
    start, end : ndarray, shape (K,)

    Returns
    -------
    alpha, beta : ndarray of float64, shape (T, B, K)
        ``-inf`` at padding positions.
    logZ : ndarray of float64, shape (B,)
    """
    E, A, start, end = _as64(E, A, start, end)
    T, B, K = E.shape
    real = np.arange(T)[:, None] < lengths[None, :]                          # (T, B)
    alpha = np.full((T, B, K), NEG_INF)
    beta = np.full((T, B, K), NEG_INF)
    if T == 0 or B == 0:
        return alpha, beta, np.zeros(B)
    # 1. Forward.
    alpha[0] = start + E[0]                                                  # (B, K)
    for t in range(1, T):
        step = logsumexp(alpha[t - 1][:, :, None] + A[None], axis=1) + E[t]  # (B, K)
        alpha[t] = np.where(real[t][:, None], step, NEG_INF)
    last = alpha[lengths - 1, np.arange(B)]                                  # (B, K)
    logZ = logsumexp(last + end, axis=1)                                     # (B,)
    # 2. Backward.
    for t in range(T - 1, -1, -1):
        if t + 1 < T:
            w = E[t + 1] + beta[t + 1]                                       # (B, K)
            step = logsumexp(A[None] + w[:, None, :], axis=2)                # (B, K)
        else:
            step = np.full((B, K), NEG_INF)
        beta[t] = np.where((t == lengths - 1)[:, None], end, np.where((t < lengths - 1)[:, None], step, NEG_INF))
    return alpha, beta, logZ


def forward_backward(E: np.ndarray, lengths: np.ndarray, A: np.ndarray, start: np.ndarray, end: np.ndarray,
                     marginals_out: np.ndarray, pair_sum_out: np.ndarray) -> np.ndarray:
    """Log partition function, token marginals and summed pair marginals of a padded batch.

    Parameters
    ----------
    E : ndarray, shape (T, B, K), float32 or float64
    lengths : ndarray of int64, shape (B,)
    A : ndarray, shape (K, K), dtype of E
    start, end : ndarray, shape (K,), dtype of E
    marginals_out : ndarray, shape (T, B, K), dtype of E
        Overwritten with ``P(y_t = j)``; 0 at padding.
    pair_sum_out : ndarray of float64, shape (K, K)
        Overwritten with ``sum_b sum_{t+1 < L_b} P(y_t = i, y_t+1 = j)``: the expected transition counts.

    Returns
    -------
    logZ : ndarray of float64, shape (B,)
        ``-inf`` for a sequence that no tag sequence can score (every path forbidden); its marginals are 0.
    """
    alpha, beta, logZ = alpha_beta(E, lengths, A, start, end)
    A64 = np.asarray(A, np.float64)
    norm = np.where(np.isfinite(logZ), logZ, np.inf)                         # impossible sequences -> 0
    marginals_out[...] = np.exp(alpha + beta - norm[None, :, None])          # (T, B, K)
    pair_sum_out[...] = 0.0
    E64 = np.asarray(E, np.float64)
    for t in range(E.shape[0] - 1):
        log_pair = (alpha[t][:, :, None] + A64[None]                         # (B, K, K)
                    + (E64[t + 1] + beta[t + 1])[:, None, :] - norm[:, None, None])
        pair_sum_out += np.exp(log_pair).sum(axis=0)                         # beta[t+1] = -inf at padding
    return logZ


def span_log_probability(E: np.ndarray, lengths: np.ndarray, A: np.ndarray, start: np.ndarray, end: np.ndarray,
                         tags: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Log-probability that the tags over each span equal the given tags, whatever the tags outside it.

    Parameters
    ----------
    E : ndarray, shape (T, B, K)
    lengths : ndarray of int64, shape (B,)
    A : ndarray, shape (K, K)
    start, end : ndarray, shape (K,)
    tags : ndarray of int64, shape (T, B)
        Tags in 0..K-1 at real positions (usually the Viterbi paths).
    spans : ndarray of int64, shape (n, 3)
        Rows ``(b, first, stop)`` with ``0 <= first < stop <= L_b``.

    Returns
    -------
    ndarray of float64, shape (n,)
        With ``i = first``, ``j = stop - 1`` and ``y = tags[:, b]``:
        ``alpha[i, y_i] + sum_{t=i+1}^{j} (A[y_{t-1}, y_t] + E[t, y_t]) + beta[j, y_j] - log Z``.
    """
    n = spans.shape[0]
    if n == 0:
        return np.zeros(0)
    alpha, beta, logZ = alpha_beta(E, lengths, A, start, end)
    E64, A64 = np.asarray(E, np.float64), np.asarray(A, np.float64)
    T = E.shape[0]
    b, first, stop = spans.T
    last = stop - 1
    inc = np.zeros((T, E.shape[1]))                                          # (T, B): A[y_t-1, y_t] + E[t, y_t]
    if T > 1:
        inc[1:] = A64[tags[:-1], tags[1:]] + np.take_along_axis(E64[1:], tags[1:, :, None], 2)[:, :, 0]
    t = np.arange(T)
    within = (first[:, None] < t) & (t <= last[:, None])                     # (n, T): t in first+1..last
    inside = np.where(within, inc[:, b].T, 0.0).sum(axis=1)                  # (n,)
    return alpha[first, b, tags[first, b]] + inside + beta[last, b, tags[last, b]] - logZ[b]


def viterbi(E: np.ndarray, lengths: np.ndarray, A: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Highest-scoring tag sequence of each sequence in a padded batch.

    Parameters
    ----------
    E : ndarray, shape (T, B, K)
    lengths : ndarray of int64, shape (B,)
    A : ndarray, shape (K, K)
    start, end : ndarray, shape (K,)

    Returns
    -------
    paths : ndarray of int64, shape (T, B)
        Best tags; 0 at padding. Ties go to the lowest tag index (first maximum).
    scores : ndarray of float64, shape (B,)
        ``score(path)``; ``-inf`` when every path is forbidden.
    """
    E, A, start, end = _as64(E, A, start, end)
    T, B, K = E.shape
    paths = np.zeros((T, B), dtype=np.int64)
    if T == 0 or B == 0:
        return paths, np.zeros(B)
    psi = np.zeros((T, B, K), dtype=np.int64)
    delta = start + E[0]                                                     # (B, K)
    for t in range(1, T):
        cand = delta[:, :, None] + A[None]                                   # (B, K_prev, K)
        psi[t] = cand.argmax(axis=1)
        step = cand.max(axis=1) + E[t]                                       # (B, K)
        delta = np.where((t < lengths)[:, None], step, delta)                # frozen after L_b - 1
    final = delta + end                                                      # (B, K)
    tag = final.argmax(axis=1)                                               # (B,)
    scores = final[np.arange(B), tag]
    cols = np.arange(B)
    for t in range(T - 1, -1, -1):
        tag = np.where(t == lengths - 1, final.argmax(axis=1), tag)
        real = t < lengths
        paths[t] = np.where(real, tag, 0)
        if t > 0:
            tag = np.where(real, psi[t, cols, tag], tag)
    return paths, scores


def kbest_viterbi(E: np.ndarray, lengths: np.ndarray, A: np.ndarray, start: np.ndarray, end: np.ndarray,
                  k: int):
    """The ``k`` highest-scoring tag sequences of each sequence (list Viterbi; NumPy only, not a hot path).

    Parameters
    ----------
    E : ndarray, shape (T, B, K)
    lengths : ndarray of int64, shape (B,)
    A : ndarray, shape (K, K)
    start, end : ndarray, shape (K,)
    k : int, >= 1

    Returns
    -------
    paths : ndarray of int64, shape (k, T, B)
        ``paths[r]`` is the (r+1)-th best sequence; 0 at padding.
    scores : ndarray of float64, shape (k, B)
        Non-increasing in r. When a sequence has fewer than k allowed tag sequences, the missing
        entries have score ``-inf`` and path 0.

    Notes
    -----
    ``delta[b, j, r]`` is the r-th best score of a prefix ending in tag j; each step ranks the
    ``K * k`` extensions of the previous prefixes into each tag. Ties go to the lower flat index
    ``i * k + r`` (stable sort), so ``k = 1`` reproduces :func:`viterbi`.
    """
    E, A, start, end = _as64(E, A, start, end)
    T, B, K = E.shape
    paths = np.zeros((k, T, B), dtype=np.int64)
    if T == 0 or B == 0:
        return paths, np.zeros((k, B))
    m = K * k
    delta = np.full((B, K, k), NEG_INF)
    delta[:, :, 0] = start + E[0]                                            # (B, K, k)
    back = np.zeros((T, B, K, k), dtype=np.int64)                            # flat i * k + r
    for t in range(1, T):
        cand = (delta[:, :, None, :] + A[None, :, :, None]).transpose(0, 2, 1, 3).reshape(B, K, m)
        order = np.argsort(-cand, axis=2, kind="stable")[:, :, :k]           # (B, K, k)
        step = np.take_along_axis(cand, order, axis=2) + E[t][:, :, None]    # (B, K, k)
        back[t] = order
        delta = np.where((t < lengths)[:, None, None], step, delta)
    final = (delta + end[None, :, None]).reshape(B, m)                       # (B, K * k)
    order = np.argsort(-final, axis=1, kind="stable")[:, :k]                 # (B, k)
    scores = np.take_along_axis(final, order, axis=1)                        # (B, k)
    tag, rank = order // k, order % k                                        # (B, k)
    cols = np.arange(B)[:, None]
    for t in range(T - 1, -1, -1):
        at_end = (t == lengths - 1)[:, None]
        tag = np.where(at_end, order // k, tag)
        rank = np.where(at_end, order % k, rank)
        real = (t < lengths)[:, None]
        paths[:, t, :] = np.where(real, tag, 0).T
        if t > 0:
            prev = back[t][cols, tag, rank]                                  # (B, k)
            tag = np.where(real, prev // k, tag)
            rank = np.where(real, prev % k, rank)
    missing = ~np.isfinite(scores.T)                                         # (k, B)
    paths *= ~missing[:, None, :]
    return paths, scores.T
