"""The CRF output layer: parameters, loss and its gradients, decoding, confidence, constraints, errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nertag.net.crf import CRF, Constraints, NonFiniteScores, apply_constraints, forward_backward, sequence_score, span_log_probability
from nertag.net.gradcheck import check_loss
from nertag.net.params import ParamBuffer

BACKENDS = ["cython", "numpy"]

# BIO with two entity types: an I-X only after B-X or I-X, and never first.
BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def bio_masks():
    K = len(BIO)
    allowed = np.ones((K, K), bool)
    for j, tag in enumerate(BIO):
        if tag.startswith("I-"):
            allowed[:, j] = [prev in ("B-" + tag[2:], tag) for prev in BIO]
    allowed_start = np.array([not tag.startswith("I-") for tag in BIO])
    return allowed, allowed_start, np.ones(K, bool)


def bound_crf(K, dtype=np.float64, seed=0, **kwargs):
    crf = CRF(K, **kwargs)
    buffer = ParamBuffer(crf, dtype, seed=seed)
    rng = np.random.default_rng(seed)
    buffer.data[:] = rng.normal(size=buffer.data.size)             # non-trivial transitions
    return crf, buffer


def batch(rng, T, B, K, lengths, dtype=np.float64):
    X = rng.normal(size=(T, B, K)).astype(dtype)
    target = rng.integers(0, K, size=(T, B))
    return X, target, np.asarray(lengths)


def gold_log_prob(crf, X, target, lengths, allowed=None):
    """log P(gold) by enumeration, per sequence."""
    A, s, e = (crf.p[n].astype(np.float64) for n in ("A", "start", "end"))
    out = []
    for b, L in enumerate(lengths):
        def score(y):
            return s[y[0]] + e[y[-1]] + sum(X[t, b, y[t]] for t in range(L)) + sum(A[i, j] for i, j in zip(y, y[1:]))

        seqs = itertools.product(range(crf.n_tags), repeat=L)
        if allowed is not None:
            seqs = [y for y in seqs if allowed[1][y[0]] and all(allowed[0][i, j] for i, j in zip(y, y[1:]))]
        out.append(score(tuple(target[:L, b])) - np.logaddexp.reduce([score(y) for y in seqs]))
    return np.array(out)


def test_parameters_closed_form_count_and_decay():
    crf = CRF(17)
    assert crf.n_params == 17 * 17 + 2 * 17
    buffer = ParamBuffer(crf, np.float32)
    assert buffer.data.size == 17 * 17 + 34
    assert buffer.decay_mask.sum() == 17 * 17                       # A decays, start and end do not
    assert not crf.p["A"].any() and crf.p["start"].shape == (17,) and crf.p["end"].shape == (17,)


@pytest.mark.parametrize("kernel", BACKENDS)
def test_loss_is_negative_log_likelihood_by_enumeration(kernel):
    rng = np.random.default_rng(1)
    crf, _ = bound_crf(3, kernel=kernel)
    X, target, lengths = batch(rng, 4, 3, 3, [4, 1, 3])
    loss, dX = crf.loss(X, target, lengths)
    assert loss == pytest.approx(-gold_log_prob(crf, X, target, lengths).sum(), abs=1e-10)
    assert dX.shape == X.shape and dX.dtype == X.dtype
    assert not dX[np.arange(4)[:, None] >= lengths].any()          # zero at padding
    np.testing.assert_allclose(dX.sum(-1)[np.arange(4)[:, None] < lengths], 0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", BACKENDS)
def test_gradient_check_with_uneven_lengths(kernel):
    rng = np.random.default_rng(2)
    crf, buffer = bound_crf(4, kernel=kernel)
    X, target, lengths = batch(rng, 5, 4, 4, [5, 2, 1, 4])
    errors = check_loss(crf, X, target, lengths, buffer=buffer)
    assert errors["params"] < 1e-7 and errors["inputs"] < 1e-7, errors


def test_gradient_check_training_with_constraints():
    rng = np.random.default_rng(3)
    crf, buffer = bound_crf(len(BIO), constraints=bio_masks(), train_constrained=True)
    X = rng.normal(size=(5, 3, len(BIO)))
    target = np.array([[1, 0, 3], [2, 0, 4], [2, 1, 0], [0, 2, 3], [3, 0, 0]])
    lengths = np.array([5, 4, 2])
    errors = check_loss(crf, X, target, lengths, buffer=buffer)
    assert errors["params"] < 1e-7 and errors["inputs"] < 1e-7, errors
    loss, _ = crf.loss(X, target, lengths)
    assert loss == pytest.approx(-gold_log_prob(crf, X, target, lengths, bio_masks()).sum(), abs=1e-10)
    buffer.zero_grad()
    crf.loss(X, target, lengths)
    assert not crf.g["A"][~bio_masks()[0]].any()                  # forbidden entries are constants
    unconstrained = CRF(len(BIO), constraints=bio_masks())         # default: constraints only at decoding
    ParamBuffer(unconstrained, np.float64).data[:] = buffer.data
    assert unconstrained.loss(X, target, lengths)[0] > loss        # Z sums over more sequences


def test_gradients_accumulate_and_zero_grad_resets():
    rng = np.random.default_rng(4)
    crf, buffer = bound_crf(3)
    X, target, lengths = batch(rng, 4, 2, 3, [4, 2])
    buffer.zero_grad()
    crf.loss(X, target, lengths)
    once = buffer.grad.copy()
    crf.loss(X, target, lengths)
    np.testing.assert_allclose(buffer.grad, 2 * once)
    assert np.abs(once).sum() > 0


def test_float32_layer():
    rng = np.random.default_rng(5)
    crf64, _ = bound_crf(5)
    crf32, buf32 = bound_crf(5, np.float32)
    X, target, lengths = batch(rng, 6, 3, 5, [6, 3, 2])
    loss64, dX64 = crf64.loss(X, target, lengths)
    loss32, dX32 = crf32.loss(X.astype(np.float32), target, lengths)
    assert dX32.dtype == np.float32 and buf32.grad.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(dX32, dX64, atol=1e-5)
    np.testing.assert_array_equal(crf32.predict(X.astype(np.float32), lengths), crf64.predict(X, lengths))


def test_predict_kbest_marginals_shapes_and_padding():
    rng = np.random.default_rng(6)
    crf, _ = bound_crf(4)
    X, _, lengths = batch(rng, 7, 3, 4, [7, 2, 5])
    paths = crf.predict(X, lengths)
    assert paths.shape == (7, 3) and paths.dtype == np.int64
    assert not paths[np.arange(7)[:, None] >= lengths].any()
    kpaths, kscores = crf.kbest(X, lengths, k=3)
    assert kpaths.shape == (3, 7, 3) and kscores.shape == (3, 3)
    np.testing.assert_array_equal(kpaths[0], paths)
    assert np.all(np.diff(kscores, axis=0) <= 0)
    marg = crf.marginals(X, lengths)
    real = np.arange(7)[:, None] < lengths
    np.testing.assert_allclose(marg.sum(-1), real.astype(float), rtol=1e-12, atol=1e-12)
    for b, L in enumerate(lengths):                                 # padded batch == one at a time
        np.testing.assert_array_equal(crf.predict(X[:L, b:b + 1])[:, 0], paths[:L, b])
    assert crf.predict(X).shape == (7, 3)                           # lengths=None: all full length


def test_constrained_decoding_obeys_the_scheme():
    K = len(BIO)
    allowed, allowed_start, allowed_end = bio_masks()
    free = CRF(K)
    ParamBuffer(free, np.float64)
    constrained = CRF(K, constraints=(allowed, allowed_start, allowed_end))
    ParamBuffer(constrained, np.float64)
    # Emissions that, tag by tag, prefer "I-PER" first and "I-LOC" after "B-PER".
    X = np.full((3, 1, K), -2.0)
    X[0, 0, 2] = 3.0
    X[1, 0, 1] = 3.0
    X[2, 0, 4] = 3.0
    assert free.predict(X)[:, 0].tolist() == [2, 1, 4]
    path = constrained.predict(X)[:, 0].tolist()
    assert allowed_start[path[0]] and all(allowed[i, j] for i, j in zip(path, path[1:]))
    assert constrained.viterbi(X, constrained=False)[0][:, 0].tolist() == [2, 1, 4]
    with pytest.raises(ValueError, match="no constraints"):
        free.viterbi(X, constrained=True)
    # Brute force over allowed sequences of the constrained marginals and the best path.
    seqs = [y for y in itertools.product(range(K), repeat=3)
            if allowed_start[y[0]] and all(allowed[i, j] for i, j in zip(y, y[1:]))]
    scores = np.array([sum(X[t, 0, y[t]] for t in range(3)) for y in seqs])
    assert list(seqs[int(scores.argmax())]) == path
    probs = np.exp(scores - np.logaddexp.reduce(scores))
    marg = constrained.marginals(X)
    for t in range(3):
        want = np.zeros(K)
        np.add.at(want, [y[t] for y in seqs], probs)
        np.testing.assert_allclose(marg[t, 0], want, rtol=1e-12, atol=1e-12)
    assert marg[0, 0, 2] == 0 and marg[0, 0, 4] == 0


def test_gold_violating_training_constraints_is_a_clear_error():
    crf, _ = bound_crf(len(BIO), constraints=bio_masks(), train_constrained=True)
    X = np.zeros((2, 2, len(BIO)))
    target = np.array([[0, 2], [1, 2]])                             # sequence 1 starts with I-PER
    with pytest.raises(ValueError, match=r"gold tags of sequences \[1\] use transitions the constraints forbid"):
        crf.loss(X, target, [2, 2])


def test_gold_through_a_forbidden_pair_is_named_but_padding_is_not_checked():
    crf, _ = bound_crf(len(BIO), constraints=bio_masks(), train_constrained=True)
    X = np.zeros((3, 3, len(BIO)))
    # 0: B-PER I-PER O (allowed); 1: O I-LOC (O -> I-LOC forbidden); 2: O, then padding that would be forbidden
    target = np.array([[1, 0, 0], [2, 4, 4], [0, 0, 2]])
    with pytest.raises(ValueError, match=r"gold tags of sequences \[1\] use transitions the constraints forbid"):
        crf.loss(X, target, [3, 2, 1])
    target[1, 1] = 3                                                # O B-LOC: allowed
    loss, _ = crf.loss(X, target, [3, 2, 1])
    assert np.isfinite(loss)


@pytest.mark.parametrize("train_constrained", [False, True])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_emissions_are_divergence_not_a_constraint_violation(train_constrained, bad):
    crf, _ = bound_crf(len(BIO), constraints=bio_masks(), train_constrained=train_constrained)
    X = np.zeros((2, 2, len(BIO)))
    X[1, 0, 3] = bad                                                # an overflowed emission; gold is allowed
    target = np.array([[1, 0], [2, 0]])
    with pytest.raises(NonFiniteScores, match=r"the CRF emissions are not finite \(1 of 20 values NaN or infinite\)"):
        crf.loss(X, target, [2, 2])
    assert not crf.g["A"].any()                                     # nothing accumulated


def test_overflowing_path_scores_are_divergence():
    crf, _ = bound_crf(2)
    X = np.full((2, 1, 2), 1e308)                                   # finite, but a path's sum is not
    with pytest.raises(NonFiniteScores, match=r"the CRF (log Z|gold path scores) are not finite"):
        with np.errstate(over="ignore", invalid="ignore"):
            crf.loss(X, np.zeros((2, 1), int), [2])


@pytest.mark.parametrize("kernel", BACKENDS)
def test_span_confidence_is_exact_probability_of_the_span_tags(kernel):
    rng = np.random.default_rng(9)
    K, T = 3, 5
    crf, _ = bound_crf(K, kernel=kernel)
    X = rng.normal(size=(T, 2, K))
    lengths = np.array([5, 3])
    paths = crf.predict(X, lengths)
    spans = np.array([[0, 1, 4], [0, 0, 1], [1, 0, 3], [1, 2, 3], [0, 4, 5]])
    conf = crf.span_confidence(X, lengths, paths, spans)
    A, s, e = crf.p["A"], crf.p["start"], crf.p["end"]
    for (b, first, stop), c in zip(spans, conf):
        L = lengths[b]
        logs, hits = [], []
        for y in itertools.product(range(K), repeat=L):
            logs.append(s[y[0]] + e[y[-1]] + sum(X[t, b, y[t]] for t in range(L))
                        + sum(A[i, j] for i, j in zip(y, y[1:])))
            hits.append(tuple(y[first:stop]) == tuple(paths[first:stop, b]))
        logs = np.array(logs)
        want = np.exp(np.logaddexp.reduce(logs[hits]) - np.logaddexp.reduce(logs))
        assert c == pytest.approx(want, abs=1e-12)
    # Equals a forward pass with the span clamped to its tags: log Z(clamped) - log Z.
    b, first, stop = spans[0]
    E = X[:, b:b + 1].copy()
    for t in range(first, stop):
        E[t, 0, np.arange(K) != paths[t, b]] = -np.inf
    L = [lengths[b]]
    clamped = forward_backward(E, L, A, s, e)[0][0] - forward_backward(X[:, b:b + 1], L, A, s, e)[0][0]
    assert conf[0] == pytest.approx(math.exp(clamped), abs=1e-12)
    # A one-token span is that token's marginal.
    marg = crf.marginals(X, lengths)
    assert conf[1] == pytest.approx(marg[0, 0, paths[0, 0]], abs=1e-12)


def test_sequence_score_by_hand():
    E = np.array([[[1.0, 0.0]], [[0.0, 2.0]]])
    A = np.array([[0.5, -1.0], [0.0, 1.0]])
    start, end = np.array([0.0, 0.5]), np.array([0.0, 0.25])
    assert sequence_score(E, [2], A, start, end, [[1], [1]])[0] == pytest.approx(0.5 + 0 + 1 + 2 + 0.25)
    assert sequence_score(E, [1], A, start, end, [[0], [1]])[0] == pytest.approx(0 + 1 + 0)  # padding ignored


# -- errors ---------------------------------------------------------------------------------------------

def test_bad_shapes_and_dtypes_are_clear_value_errors():
    K = 3
    crf, _ = bound_crf(K)
    X = np.zeros((4, 2, K))
    with pytest.raises(ValueError, match=r"CRF with 3 tags expects emissions of shape \(T, B, 3\), got \(4, 2, 5\)"):
        crf.predict(np.zeros((4, 2, 5)))
    with pytest.raises(ValueError, match=r"expects emissions of shape \(T, B, 3\), got \(4, 3\)"):
        crf.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="CRF emissions have dtype float32 but its parameters are float64"):
        crf.loss(X.astype(np.float32), np.zeros((4, 2), int))
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.4 \(the padded length\), got 0\.\.5"):
        crf.predict(X, [5, 0])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        crf.predict(X, [4, 4, 4])
    with pytest.raises(ValueError, match="lengths must be integers, got dtype float64"):
        crf.predict(X, [4.0, 2.5])
    with pytest.raises(ValueError, match=r"CRF targets must have shape \(T, B\) = \(4, 2\) .* got \(2, 4\)"):
        crf.loss(X, np.zeros((2, 4), int), [4, 2])
    with pytest.raises(ValueError, match=r"CRF targets must lie in 0\.\.2 at real positions, got 0\.\.3"):
        crf.loss(X, np.array([[0, 0], [0, 0], [3, 0], [0, 0]]), [4, 2])
    with pytest.raises(ValueError, match="CRF targets must be integer tag ids, got dtype float64"):
        crf.loss(X, np.zeros((4, 2)), [4, 2])
    crf.loss(X, np.array([[0, 0], [0, 0], [0, 9], [0, -1]]), [4, 2])  # padding targets are ignored
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        crf.kbest(X, None, k=0)
    with pytest.raises(ValueError, match=r"span \(1, 1, 3\) must satisfy 0 <= first < stop <= length 2"):
        crf.span_confidence(X, [4, 2], np.zeros((4, 2), int), [[0, 0, 4], [1, 1, 3]])
    with pytest.raises(ValueError, match=r"spans must be integer rows \(b, first, stop\) of shape \(n, 3\)"):
        crf.span_confidence(X, [4, 2], np.zeros((4, 2), int), [[0, 1]])


def test_function_level_errors():
    E, A, s = np.zeros((2, 1, 3)), np.zeros((3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match=r"CRF emissions must be time-major with shape \(T, B, K\), got a 2-D"):
        forward_backward(np.zeros((2, 3)), None, A, s, s)
    with pytest.raises(ValueError, match="CRF emissions must be float32 or float64, got int64"):
        forward_backward(np.zeros((2, 1, 3), np.int64), None, A, s, s)
    with pytest.raises(ValueError, match=r"CRF transitions A must have shape \(3, 3\) for emissions of shape "
                                         r"\(2, 1, 3\), got \(3, 4\)"):
        forward_backward(E, None, np.zeros((3, 4)), s, s)
    with pytest.raises(ValueError, match=r"CRF end scores must have shape \(3,\) .* got \(4,\)"):
        forward_backward(E, None, A, s, np.zeros(4))
    with pytest.raises(ValueError, match="CRF start scores have dtype float32 but the emissions have dtype float64"):
        forward_backward(E, None, A, s.astype(np.float32), s)
    with pytest.raises(ValueError, match="finite or -inf"):
        forward_backward(E, None, np.full((3, 3), np.nan), s, s)
    with pytest.raises(ValueError, match="K >= 1"):
        forward_backward(np.zeros((2, 1, 0)), None, np.zeros((0, 0)), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="constraint mask allowed must be boolean, got dtype int64"):
        CRF(3, constraints=np.ones((3, 3), int))
    with pytest.raises(ValueError, match=r"mask allowed_start must have shape \(3,\) for 3 tags, got \(2,\)"):
        CRF(3, constraints=(np.ones((3, 3), bool), np.ones(2, bool), np.ones(3, bool)))
    with pytest.raises(ValueError, match="train_constrained=True needs constraints"):
        CRF(3, train_constrained=True)


def test_constraints_helpers():
    c = Constraints.coerce(np.eye(2, dtype=bool), 2)
    assert c.n_tags == 2 and c.allowed_start.all() and c.allowed_end.all()
    A, s, e = apply_constraints(np.ones((2, 2), np.float32), np.zeros(2, np.float32), np.zeros(2, np.float32), c)
    assert A.dtype == np.float32 and A[0, 1] == -np.inf and A[0, 0] == 1 and np.isfinite(s).all()
    assert span_log_probability(np.zeros((1, 1, 2)), None, np.zeros((2, 2)), np.zeros(2), np.zeros(2),
                                [[0]], np.zeros((0, 3), int)).shape == (0,)
