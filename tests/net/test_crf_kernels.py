"""CRF kernels in tiers: a worked example, brute force over all tag sequences, Cython vs NumPy twin, and
degenerate cases. Brute-force tests run on both the kernels and the twins."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nertag.net import _crf, crf_numpy
from nertag.net.crf import forward_backward, kbest_viterbi, viterbi

BACKENDS = ["cython", "numpy"]


def random_problem(rng, T, B, K, dtype=np.float64, lengths=None):
    E = rng.normal(size=(T, B, K)).astype(dtype)
    A = rng.normal(size=(K, K)).astype(dtype)
    start = rng.normal(size=K).astype(dtype)
    end = rng.normal(size=K).astype(dtype)
    if lengths is None:
        lengths = rng.integers(1, T + 1, size=B)
        lengths[0] = T
    return E, np.asarray(lengths, np.int64), A, start, end


def brute_force(E, L, A, start, end):
    """All tag sequences of sequence ``E[:L]`` (T, K) with their scores, by explicit loops."""
    K = E.shape[1]
    out = []
    for y in itertools.product(range(K), repeat=L):
        score = start[y[0]] + end[y[-1]]
        for t in range(L):
            score += E[t, y[t]]
            if t:
                score += A[y[t - 1], y[t]]
        out.append((y, float(score)))
    return out


def brute_stats(E, L, A, start, end):
    """log Z, marginals (L, K), summed pair marginals (K, K) of one sequence by enumeration."""
    K = E.shape[1]
    seqs = [(y, s) for y, s in brute_force(E, L, A, start, end) if s > -math.inf]
    logZ = np.logaddexp.reduce([s for _, s in seqs])
    marg = np.zeros((L, K))
    pairs = np.zeros((K, K))
    for y, s in seqs:
        p = math.exp(s - logZ)
        for t in range(L):
            marg[t, y[t]] += p
            if t:
                pairs[y[t - 1], y[t]] += p
    return logZ, marg, pairs


# -- tier 1: a worked example ----------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", BACKENDS)
def test_worked_example_two_tags_two_tokens(kernel):
    # score(y0, y1) = s[y0] + E0[y0] + A[y0, y1] + E1[y1] + e[y1]:
    #   (0,0) = 0 + 1 + 0.5 + 0 = 1.5    (0,1) = 0 + 1 - 1 + 2 = 2
    #   (1,0) = 0.5 + 0 + 0 + 0 = 0.5    (1,1) = 0.5 + 0 + 1 + 2 = 3.5
    E = np.array([[[1.0, 0.0]], [[0.0, 2.0]]])                      # (T=2, B=1, K=2)
    A = np.array([[0.5, -1.0], [0.0, 1.0]])
    start, end = np.array([0.0, 0.5]), np.array([0.0, 0.0])
    logZ, marg, pairs = forward_backward(E, [2], A, start, end, kernel=kernel)
    # log Z = log(e^1.5 + e^2 + e^0.5 + e^3.5)
    assert logZ[0] == pytest.approx(3.842349582389822, abs=1e-12)
    # P(y0 = 0) = (e^1.5 + e^2) / Z, P(y1 = 1) = (e^2 + e^3.5) / Z
    np.testing.assert_allclose(marg[:, 0, 0], [0.254546283705077, 1 - 0.8685446324011539], rtol=0, atol=1e-12)
    np.testing.assert_allclose(pairs, [[0.09610157419009721, 0.15844470951497971],
                                       [0.03535379340874887, 0.7100999228861742]], rtol=1e-12, atol=1e-12)
    paths, scores = viterbi(E, [2], A, start, end, kernel=kernel)
    assert paths[:, 0].tolist() == [1, 1] and scores[0] == pytest.approx(3.5)
    kpaths, kscores = kbest_viterbi(E, [2], A, start, end, k=4)
    assert [tuple(p[:, 0]) for p in kpaths] == [(1, 1), (0, 1), (0, 0), (1, 0)]
    np.testing.assert_allclose(kscores[:, 0], [3.5, 2.0, 1.5, 0.5], rtol=1e-12)


# -- tier 2: brute force over itertools.product ----------------------------------------------------------

SMALL = [(1, 1), (1, 3), (2, 1), (2, 4), (3, 3), (4, 2)]           # (K, T)


@pytest.mark.parametrize("kernel", BACKENDS)
@pytest.mark.parametrize("K,T", SMALL)
def test_forward_backward_matches_brute_force(kernel, K, T):
    rng = np.random.default_rng(10 * K + T)
    E, lengths, A, start, end = random_problem(rng, T, 3, K)
    logZ, marg, pairs = forward_backward(E, lengths, A, start, end, kernel=kernel)
    want_pairs = np.zeros((K, K))
    for b, L in enumerate(lengths):
        z, m, p = brute_stats(E[:, b], L, A, start, end)
        assert logZ[b] == pytest.approx(z, abs=1e-10)
        np.testing.assert_allclose(marg[:L, b], m, rtol=1e-12, atol=1e-12)
        assert not marg[L:, b].any()
        want_pairs += p
    np.testing.assert_allclose(pairs, want_pairs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", BACKENDS)
@pytest.mark.parametrize("K,T", SMALL)
def test_viterbi_matches_brute_force(kernel, K, T):
    rng = np.random.default_rng(100 + 10 * K + T)
    E, lengths, A, start, end = random_problem(rng, T, 4, K)
    paths, scores = viterbi(E, lengths, A, start, end, kernel=kernel)
    assert paths.dtype == np.int64 and paths.shape == (T, 4)
    for b, L in enumerate(lengths):
        y, s = max(brute_force(E[:, b], L, A, start, end), key=lambda pair: pair[1])
        assert tuple(paths[:L, b]) == y
        assert scores[b] == pytest.approx(s, abs=1e-12)
        assert not paths[L:, b].any()


@pytest.mark.parametrize("K,T,k", [(2, 3, 5), (3, 3, 10), (3, 2, 9), (1, 4, 1), (4, 2, 3)])
def test_kbest_matches_brute_force_order_and_scores(K, T, k):
    rng = np.random.default_rng(7 * K + T + k)
    E, lengths, A, start, end = random_problem(rng, T, 3, K)
    paths, scores = kbest_viterbi(E, lengths, A, start, end, k)
    assert paths.shape == (k, T, 3) and scores.shape == (k, 3)
    for b, L in enumerate(lengths):
        ranked = sorted(brute_force(E[:, b], L, A, start, end), key=lambda pair: -pair[1])[:k]
        assert [tuple(paths[r, :L, b]) for r in range(len(ranked))] == [y for y, _ in ranked]
        np.testing.assert_allclose(scores[: len(ranked), b], [s for _, s in ranked], rtol=1e-12, atol=1e-12)
        assert np.all(scores[len(ranked):, b] == -np.inf)              # fewer than k sequences exist
        assert not paths[len(ranked):, :, b].any()


def test_kbest_with_k_one_is_viterbi():
    rng = np.random.default_rng(3)
    E, lengths, A, start, end = random_problem(rng, 9, 6, 5)
    paths, scores = kbest_viterbi(E, lengths, A, start, end, 1)
    best, best_scores = viterbi(E, lengths, A, start, end)
    np.testing.assert_array_equal(paths[0], best)
    np.testing.assert_allclose(scores[0], best_scores, rtol=1e-12, atol=1e-12)


def random_mask(rng, K):
    allowed = rng.random((K, K)) < 0.6
    allowed[0, :] = allowed[:, 0] = True                            # tag 0 ("O") keeps a path open
    first = np.arange(K) == 0
    return allowed, (rng.random(K) < 0.7) | first, (rng.random(K) < 0.7) | first


@pytest.mark.parametrize("kernel", BACKENDS)
@pytest.mark.parametrize("K,T", [(3, 3), (4, 3), (3, 4)])
def test_constrained_decoding_matches_brute_force_over_allowed_sequences(kernel, K, T):
    rng = np.random.default_rng(K * T)
    E, lengths, A, start, end = random_problem(rng, T, 4, K)
    allowed, allowed_start, allowed_end = random_mask(rng, K)
    A_c = np.where(allowed, A, -np.inf)
    s_c, e_c = np.where(allowed_start, start, -np.inf), np.where(allowed_end, end, -np.inf)
    paths, scores = viterbi(E, lengths, A_c, s_c, e_c, kernel=kernel)
    logZ, marg, pairs = forward_backward(E, lengths, A_c, s_c, e_c, kernel=kernel)
    kpaths, kscores = kbest_viterbi(E, lengths, A_c, s_c, e_c, 4)
    want_pairs = np.zeros((K, K))
    for b, L in enumerate(lengths):
        ok = [(y, s) for y, s in brute_force(E[:, b], L, A, start, end)
              if allowed_start[y[0]] and allowed_end[y[-1]] and all(allowed[i, j] for i, j in zip(y, y[1:]))]
        y, s = max(ok, key=lambda pair: pair[1])
        assert tuple(paths[:L, b]) == y and scores[b] == pytest.approx(s, abs=1e-12)
        ranked = sorted(ok, key=lambda pair: -pair[1])[:4]
        assert [tuple(kpaths[r, :L, b]) for r in range(len(ranked))] == [y for y, _ in ranked]
        z, m, p = brute_stats(E[:, b], L, A_c, s_c, e_c)
        assert logZ[b] == pytest.approx(z, abs=1e-10)
        np.testing.assert_allclose(marg[:L, b], m, rtol=1e-12, atol=1e-12)
        want_pairs += p
    np.testing.assert_allclose(pairs, want_pairs, rtol=1e-12, atol=1e-12)
    assert np.all(pairs[~allowed] == 0)


# -- tier 3: Cython kernel == NumPy twin -----------------------------------------------------------------

SHAPES = [(1, 1, 1), (1, 4, 3), (5, 1, 1), (5, 1, 4), (1, 1, 6), (7, 5, 4), (12, 9, 17), (3, 16, 2)]  # T, B, K


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,B,K", SHAPES)
def test_kernels_match_numpy_twins(dtype, T, B, K):
    rng = np.random.default_rng(T * 1000 + B * 10 + K)
    E, lengths, A, start, end = random_problem(rng, T, B, K, dtype)
    E *= 3                                                          # peaked distributions, large scores
    m1, m2 = np.full_like(E, np.nan), np.full_like(E, np.nan)
    p1, p2 = np.full((K, K), np.nan), np.full((K, K), np.nan)
    z1 = _crf.forward_backward(E, lengths, A, start, end, m1, p1)
    z2 = crf_numpy.forward_backward(E, lengths, A, start, end, m2, p2)
    assert isinstance(z1, np.ndarray) and z1.dtype == np.float64 and z1.shape == (B,)
    assert m1.dtype == dtype
    np.testing.assert_allclose(z1, z2, rtol=1e-12, atol=1e-12)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(m1, m2, rtol=0, atol=tol)
    np.testing.assert_allclose(p1, p2, rtol=1e-12, atol=1e-10)
    paths1, scores1 = _crf.viterbi(E, lengths, A, start, end)
    paths2, scores2 = crf_numpy.viterbi(E, lengths, A, start, end)
    np.testing.assert_array_equal(paths1, paths2)                  # same double arithmetic, same ties
    np.testing.assert_array_equal(scores1, scores2)


def test_kernels_match_twins_with_ties_and_forbidden_transitions():
    rng = np.random.default_rng(5)
    T, B, K = 6, 4, 5
    E = rng.integers(-1, 2, size=(T, B, K)).astype(np.float64)     # many exact ties
    A = np.where(rng.random((K, K)) < 0.5, -np.inf, 0.0)
    A[:, 0] = 0.0
    start, end = np.zeros(K), np.zeros(K)
    lengths = np.array([6, 1, 3, 5])
    np.testing.assert_array_equal(_crf.viterbi(E, lengths, A, start, end)[0],
                                  crf_numpy.viterbi(E, lengths, A, start, end)[0])
    m1, m2, p1, p2 = np.empty_like(E), np.empty_like(E), np.empty((K, K)), np.empty((K, K))
    np.testing.assert_allclose(_crf.forward_backward(E, lengths, A, start, end, m1, p1),
                               crf_numpy.forward_backward(E, lengths, A, start, end, m2, p2), rtol=1e-12)
    np.testing.assert_allclose(m1, m2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p1, p2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [50.0, 300.0, 1000.0])
def test_kernels_match_twins_at_extreme_scores(scale):
    # Score spreads beyond ~745 nats underflow the kernel's shifted exponentials; it must then fall back
    # to the exact per-column log-sum-exp and still agree with the twin.
    for seed in range(12):
        rng = np.random.default_rng(seed)
        E, lengths, A, start, end = random_problem(rng, 8, 3, 5)
        E, A, start, end = E * scale, A * scale, start * scale, end * scale
        if seed % 3 == 0:
            A[rng.random(A.shape) < 0.4] = -np.inf
        m1, m2, p1, p2 = np.empty_like(E), np.empty_like(E), np.empty((5, 5)), np.empty((5, 5))
        z1 = _crf.forward_backward(E, lengths, A, start, end, m1, p1)
        z2 = crf_numpy.forward_backward(E, lengths, A, start, end, m2, p2)
        np.testing.assert_allclose(z1, z2, rtol=1e-13)
        assert np.isfinite(m1).all() and np.isfinite(p1).all()
        np.testing.assert_allclose(m1, m2, rtol=0, atol=1e-9)
        np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-9)


# -- tier 4: degenerate cases ------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", BACKENDS)
def test_zero_transitions_give_softmax_marginals(kernel):
    rng = np.random.default_rng(11)
    T, B, K = 8, 5, 6
    E = rng.normal(scale=2.0, size=(T, B, K))
    lengths = np.array([8, 3, 1, 7, 5])
    zeros_k = np.zeros(K)
    logZ, marg, _ = forward_backward(E, lengths, np.zeros((K, K)), zeros_k, zeros_k, kernel=kernel)
    softmax = np.exp(E - E.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    real = np.arange(T)[:, None] < lengths
    np.testing.assert_allclose(marg[real], softmax[real], rtol=1e-12, atol=1e-12)
    # log Z factorises: sum over real t of lse_j E[t, j].
    lse = np.log(np.exp(E).sum(-1))
    np.testing.assert_allclose(logZ, np.where(real, lse, 0).sum(0), rtol=1e-12)


@pytest.mark.parametrize("kernel", BACKENDS)
def test_every_path_forbidden_gives_minus_inf_and_zero_marginals(kernel):
    K = 2
    E = np.zeros((3, 2, K))
    A = np.full((K, K), -np.inf)                                    # no transition at all
    lengths = np.array([3, 1])                                      # the second needs no transition
    logZ, marg, pairs = forward_backward(E, lengths, A, np.zeros(K), np.zeros(K), kernel=kernel)
    assert logZ[0] == -np.inf and logZ[1] == pytest.approx(np.log(2))
    assert not marg[:, 0].any() and not pairs.any()
    np.testing.assert_allclose(marg[0, 1], [0.5, 0.5], rtol=1e-12)
    _, scores = viterbi(E, lengths, A, np.zeros(K), np.zeros(K), kernel=kernel)
    assert scores[0] == -np.inf and scores[1] == 0.0


@pytest.mark.parametrize("kernel", BACKENDS)
def test_padded_batch_equals_one_sequence_at_a_time(kernel):
    rng = np.random.default_rng(8)
    E, lengths, A, start, end = random_problem(rng, 10, 6, 4, lengths=[10, 2, 7, 1, 9, 4])
    E[np.arange(10)[:, None] >= lengths] = 1e3                      # garbage at padding must not leak
    logZ, marg, pairs = forward_backward(E, lengths, A, start, end, kernel=kernel)
    paths, scores = viterbi(E, lengths, A, start, end, kernel=kernel)
    pair_total = np.zeros_like(pairs)
    for b, L in enumerate(lengths):
        z1, m1, p1 = forward_backward(E[:L, b:b + 1], None, A, start, end, kernel=kernel)
        pa1, s1 = viterbi(E[:L, b:b + 1], None, A, start, end, kernel=kernel)
        assert logZ[b] == pytest.approx(z1[0], abs=1e-12)
        np.testing.assert_allclose(marg[:L, b], m1[:, 0], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(paths[:L, b], pa1[:, 0])
        assert scores[b] == pytest.approx(s1[0], abs=1e-12)
        pair_total += p1
    np.testing.assert_allclose(pairs, pair_total, rtol=1e-12, atol=1e-12)


# -- span log-probabilities: kernel against twin, against the former NumPy path, and by enumeration ---------

def all_spans(lengths):
    """Every span (b, first, stop) of every sequence: one-token spans, spans at both ends, whole sequences."""
    return np.array([(b, i, j) for b, L in enumerate(lengths) for i in range(L) for j in range(i + 1, L + 1)],
                    dtype=np.int64).reshape(-1, 3)


def former_span_log_probability(E, lengths, A, start, end, tags, spans):
    """The NumPy computation ``crf.span_log_probability`` used before the kernel (alpha_beta and a cumsum)."""
    T, B, _ = E.shape
    alpha, beta, logZ = crf_numpy.alpha_beta(E, lengths, A, start, end)
    A64 = A.astype(np.float64)
    inc = np.zeros((T, B))
    if T > 1:
        inc[1:] = A64[tags[:-1], tags[1:]] + np.take_along_axis(E[1:], tags[1:, :, None], 2)[:, :, 0]
    cum = np.cumsum(inc, axis=0)
    b, first, stop = spans.T
    last = stop - 1
    return alpha[first, b, tags[first, b]] + cum[last, b] - cum[first, b] + beta[last, b, tags[last, b]] - logZ[b]


def viterbi_tags(E, lengths, A, start, end):
    return np.ascontiguousarray(crf_numpy.viterbi(E, lengths, A, start, end)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T,B,K", SHAPES)
def test_span_kernel_matches_twin_and_former_path(dtype, T, B, K):
    rng = np.random.default_rng(T * 1000 + B * 10 + K + 1)
    E, lengths, A, start, end = random_problem(rng, T, B, K, dtype)
    E *= 3
    E[np.arange(T)[:, None] >= lengths] = np.nan                    # padding must never be read
    tags = viterbi_tags(np.nan_to_num(E), lengths, A, start, end)
    spans = all_spans(lengths)
    spans = spans[rng.permutation(len(spans))]                      # any order of sequences
    got = _crf.span_log_probability(E, lengths, A, start, end, tags, spans)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (len(spans),)
    want = crf_numpy.span_log_probability(np.nan_to_num(E), lengths, A, start, end, tags, spans)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    former = former_span_log_probability(np.nan_to_num(E), lengths, A, start, end, tags, spans)
    np.testing.assert_allclose(np.exp(got), np.exp(former), rtol=1e-12, atol=1e-15)
    assert (got <= 1e-12).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_span_kernel_matches_twin_with_forbidden_transitions(dtype):
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        T, B, K = 9, 5, 6
        E, lengths, A, start, end = random_problem(rng, T, B, K, dtype, lengths=[9, 1, 4, 2, 7])
        A[rng.random((K, K)) < 0.4] = -np.inf
        A[:, 0] = 0.0                                               # every tag may go to tag 0
        start[rng.random(K) < 0.3] = -np.inf
        end[rng.random(K) < 0.3] = -np.inf
        start[0] = end[0] = 0.0
        tags = viterbi_tags(E, lengths, A, start, end)
        if seed % 2:                                                # also tags that are not the best path
            tags = rng.integers(0, K, size=(T, B)).astype(np.int64)
        spans = all_spans(lengths)
        got = _crf.span_log_probability(E, lengths, A, start, end, tags, spans)
        want = crf_numpy.span_log_probability(E, lengths, A, start, end, tags, spans)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
        finite = np.isfinite(want)
        assert finite.any() and not np.isnan(got).any()
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [50.0, 300.0, 1000.0])
def test_span_kernel_matches_twin_at_extreme_scores(scale):
    for seed in range(6):
        rng = np.random.default_rng(seed)
        E, lengths, A, start, end = random_problem(rng, 8, 3, 5)
        E, A, start, end = E * scale, A * scale, start * scale, end * scale
        tags = viterbi_tags(E, lengths, A, start, end)
        spans = all_spans(lengths)
        got = _crf.span_log_probability(E, lengths, A, start, end, tags, spans)
        want = crf_numpy.span_log_probability(E, lengths, A, start, end, tags, spans)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9 * scale)


@pytest.mark.parametrize("kernel", BACKENDS)
@pytest.mark.parametrize("K,T", [(1, 4), (2, 1), (3, 4), (4, 3)])
def test_span_log_probability_matches_brute_force(kernel, K, T):
    from nertag.net.crf import span_log_probability

    rng = np.random.default_rng(K * 10 + T)
    E, lengths, A, start, end = random_problem(rng, T, 2, K)
    if K > 2:
        A[0, 1] = -np.inf
    tags = rng.integers(0, K, size=(T, 2))
    spans = all_spans(lengths)
    got = span_log_probability(E, lengths, A, start, end, tags, spans, kernel=kernel)
    for (b, first, stop), value in zip(spans, got):
        seqs = brute_force(E[:, b], lengths[b], A, start, end)
        logZ = np.logaddexp.reduce([s for _, s in seqs])
        hits = [s for y, s in seqs if tuple(y[first:stop]) == tuple(tags[first:stop, b])]
        want = np.logaddexp.reduce(hits) - logZ if hits else -np.inf
        if np.isneginf(want):
            assert value == -np.inf
        else:
            assert value == pytest.approx(want, abs=1e-12)


def test_span_kernel_with_no_spans_and_sequences_without_spans():
    rng = np.random.default_rng(3)
    E, lengths, A, start, end = random_problem(rng, 5, 4, 3, lengths=[5, 2, 3, 1])
    tags = viterbi_tags(E, lengths, A, start, end)
    assert _crf.span_log_probability(E, lengths, A, start, end, tags, np.zeros((0, 3), np.int64)).shape == (0,)
    spans = np.array([[2, 0, 3], [2, 1, 2]], dtype=np.int64)        # only the third sequence
    np.testing.assert_allclose(_crf.span_log_probability(E, lengths, A, start, end, tags, spans),
                               crf_numpy.span_log_probability(E, lengths, A, start, end, tags, spans), rtol=1e-12)


def test_trained_model_confidences_equal_the_former_path(monkeypatch):
    """The bundled wikigold model (float32, BIOES constraints) on the fixture: same tags, same confidences."""
    from pathlib import Path

    from nertag.data.conll import load_conll
    from nertag.net import crf
    from nertag.tagger import Tagger

    root = Path(__file__).resolve().parents[2]
    sentences = [s.words for s in load_conll(root / "tests" / "fixtures" / "wikigold_dev30.conll")]
    tagger = Tagger.load(root / "nertag" / "models" / "wikigold")

    def run():
        tagged = list(tagger.tag_sentences(sentences, 8))
        return [t.tags for t in tagged], np.array([e.confidence for t in tagged for e in t.entities])

    tags, confidence = run()

    def former(E, lengths, A, start, end, tags, spans, kernel="cython"):
        E, A, start, end = crf._check_scores(E, A, start, end)
        padded = crf.as_padded(lengths, E.shape[0], E.shape[1])
        tags = crf._check_tags(tags, padded, E.shape[:2], E.shape[2])
        return former_span_log_probability(E, padded.lengths, A, start, end, tags, np.asarray(spans))

    monkeypatch.setattr(crf, "span_log_probability", former)
    former_tags, former_confidence = run()
    assert tags == former_tags and len(confidence) > 20
    np.testing.assert_allclose(confidence, former_confidence, rtol=1e-6)
