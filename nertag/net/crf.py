"""Linear-chain CRF output layer: batched loss, Viterbi and k-best decoding, marginals and span confidence.

Notation
--------
E[t, b, j]   emission score of tag j at position t of sequence b (the layer input X), time-major ``(T, B, K)``
A[i, j]      transition score of tag i -> tag j, ``(K, K)``
s[j], e[j]   score of starting, ending a sequence with tag j, ``(K,)`` (parameters ``start``, ``end``)
L_b          ``lengths[b]``; position t of sequence b is real iff ``t < L_b``
score(y)     s[y_0] + sum_{t<L} E[t, y_t] + sum_{0<t<L} A[y_{t-1}, y_t] + e[y_{L-1}]
alpha, beta  forward and backward log-scores (see :mod:`nertag.net.crf_numpy` for the recursions)
log Z        log sum_y exp(score(y)), the log partition function of one sequence
P(y | E)     exp(score(y) - log Z)

This module validates input and dispatches to the Cython kernels of ``_crf.pyx`` (or, with
``kernel="numpy"``, to their NumPy twins in :mod:`nertag.net.crf_numpy`). The public functions validate
what they are given; the layer validates its input once per call and then uses the unchecked ``_`` forms. Forbidden transitions are
scores of ``-inf``: :func:`apply_constraints` turns boolean masks (from the tag scheme, e.g. BIOES: an
``I-X`` only after ``B-X`` or ``I-X``) into such scores.

References
----------
Lafferty, McCallum and Pereira (2001), "Conditional Random Fields: Probabilistic Models for Segmenting
and Labeling Sequence Data", ICML.
"""
from __future__ import annotations

import numpy as np

from . import crf_numpy
from . import init as initializers
from .constraints import Constraints, apply_constraints, check_gold_allowed
from .kernels import select
from .layer import OutputLayer
from .padded import Padded, as_padded

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
__all__ = ["CRF", "Constraints", "NonFiniteScores", "apply_constraints", "forward_backward", "kbest_viterbi",
           "sequence_score", "span_log_probability", "viterbi"]


class NonFiniteScores(FloatingPointError):
    """Emissions, a gold path score or log Z that is NaN or infinite: the network has diverged."""


# ----------------------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------------------

def _check_scores(E, A, start, end):
    """Validate emissions and transition scores; return them as C-contiguous arrays."""
    E = np.asarray(E)
    if E.ndim != 3:
        raise ValueError(f"CRF emissions must be time-major with shape (T, B, K), got a {E.ndim}-D array "
                         f"of shape {E.shape}")
    if E.dtype not in FLOATS:
        raise ValueError(f"CRF emissions must be float32 or float64, got {E.dtype}")
    K = E.shape[2]
    if K < 1:
        raise ValueError(f"CRF emissions need at least one tag (K >= 1), got shape {E.shape}")
    checked = []
    for name, x, shape in (("transitions A", A, (K, K)), ("start scores", start, (K,)), ("end scores", end, (K,))):
        x = np.asarray(x)
        if x.shape != shape:
            raise ValueError(f"CRF {name} must have shape {shape} for emissions of shape {E.shape}, got {x.shape}")
        if x.dtype != E.dtype:
            raise ValueError(f"CRF {name} have dtype {x.dtype} but the emissions have dtype {E.dtype}: "
                             f"pass every score in one dtype")
        if np.isnan(x).any() or np.isposinf(x).any():
            raise ValueError(f"CRF {name} must be finite or -inf (a forbidden transition), got NaN or +inf")
        checked.append(np.ascontiguousarray(x))
    return (np.ascontiguousarray(E), *checked)


def _check_tags(tags, padded: Padded, shape: tuple, K: int, what: str = "tags") -> np.ndarray:
    """Integer tags ``(T, B)`` in 0..K-1 at real positions; returned as int64 with 0 at padding."""
    tags = np.asarray(tags)
    if tags.shape != shape:
        raise ValueError(f"CRF {what} must have shape (T, B) = {shape} for emissions (T, B, K), got {tags.shape}")
    if tags.size and not np.issubdtype(tags.dtype, np.integer):
        raise ValueError(f"CRF {what} must be integer tag ids, got dtype {tags.dtype}")
    real = padded.mask
    tags = np.where(real, tags, 0).astype(np.int64)
    if tags.size and (tags.min() < 0 or tags.max() >= K):
        got = tags[real]
        raise ValueError(f"CRF {what} must lie in 0..{K - 1} at real positions, got {got.min()}..{got.max()}")
    return tags


# ----------------------------------------------------------------------------------------------------------
# Functions on explicit scores
# ----------------------------------------------------------------------------------------------------------

def forward_backward(E, lengths, A, start, end, *, kernel: str = "cython"):
    """Log partition function and marginals of a padded batch.

    Parameters
    ----------
    E : ndarray, shape (T, B, K), float32 or float64
    lengths : Padded, or ndarray of int, shape (B,), values in 1..T, or None (all T)
    A : ndarray, shape (K, K), dtype of E; ``-inf`` forbids a transition
    start, end : ndarray, shape (K,), dtype of E
    kernel : {"cython", "numpy"}
        The compiled kernel (default) or its NumPy twin.

    Returns
    -------
    logZ : ndarray of float64, shape (B,)
    marginals : ndarray, shape (T, B, K), dtype of E
        ``P(y_t = j | E)``, 0 at padding.
    pair_sum : ndarray of float64, shape (K, K)
        ``sum_b sum_{t+1 < L_b} P(y_t = i, y_{t+1} = j | E)``, the expected transition counts.
    """
    kernels = select("crf", kernel)
    E, A, start, end = _check_scores(E, A, start, end)
    return _forward_backward(kernels, E, as_padded(lengths, E.shape[0], E.shape[1]), A, start, end)


def _forward_backward(kernels, E, padded: Padded, A, start, end):
    """:func:`forward_backward` on checked, C-contiguous scores."""
    marginals = np.empty_like(E)
    pair_sum = np.empty((E.shape[2], E.shape[2]), dtype=np.float64)
    logZ = kernels.forward_backward(E, padded.lengths, A, start, end, marginals, pair_sum)
    return np.asarray(logZ), marginals, pair_sum


def viterbi(E, lengths, A, start, end, *, kernel: str = "cython"):
    """Best tag sequence of each sequence of a padded batch.

    Parameters
    ----------
    E, lengths, A, start, end, kernel : as in :func:`forward_backward`

    Returns
    -------
    paths : ndarray of int64, shape (T, B)
        0 at padding; ties go to the lowest tag index.
    scores : ndarray of float64, shape (B,)
        ``score(path)``; ``-inf`` if every tag sequence is forbidden.
    """
    kernels = select("crf", kernel)
    E, A, start, end = _check_scores(E, A, start, end)
    padded = as_padded(lengths, E.shape[0], E.shape[1])
    paths, scores = kernels.viterbi(E, padded.lengths, A, start, end)
    return np.asarray(paths), np.asarray(scores)


def kbest_viterbi(E, lengths, A, start, end, k: int):
    """The k best tag sequences of each sequence (NumPy list Viterbi; k-best is not a hot path).

    Parameters
    ----------
    E, lengths, A, start, end : as in :func:`forward_backward`
    k : int, >= 1

    Returns
    -------
    paths : ndarray of int64, shape (k, T, B)
    scores : ndarray of float64, shape (k, B)
        Best first. Where a sequence has fewer than k allowed tag sequences the rest score ``-inf``
        with path 0.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    E, A, start, end = _check_scores(E, A, start, end)
    padded = as_padded(lengths, E.shape[0], E.shape[1])
    return crf_numpy.kbest_viterbi(E, padded.lengths, A, start, end, int(k))


def sequence_score(E, lengths, A, start, end, tags) -> np.ndarray:
    """``score(tags_b)`` of given tag sequences ``tags (T, B)``, as float64 ``(B,)`` (vectorised NumPy)."""
    E, A, start, end = _check_scores(E, A, start, end)
    T, B, K = E.shape
    padded = as_padded(lengths, T, B)
    tags = _check_tags(tags, padded, (T, B), K)
    return _sequence_score(E, padded, A, start, end, tags)


def _sequence_score(E, padded: Padded, A, start, end, tags):
    T, B, _ = E.shape
    if B == 0:
        return np.zeros(0)
    real = padded.mask                                                           # (T, B)
    emit = np.take_along_axis(E, tags[:, :, None], axis=2)[:, :, 0]              # (T, B)
    score = np.where(real, emit.astype(np.float64), 0.0).sum(axis=0)             # (B,)
    trans = A.astype(np.float64)[tags[:-1], tags[1:]]                            # (T-1, B)
    score += np.where(real[1:], trans, 0.0).sum(axis=0)
    score += start.astype(np.float64)[tags[0]] + end.astype(np.float64)[tags[padded.lengths - 1, np.arange(B)]]
    return score


def span_log_probability(E, lengths, A, start, end, tags, spans, *, kernel: str = "cython") -> np.ndarray:
    """Exact log-probability that the tags over each span equal the given tags.

    Parameters
    ----------
    E, lengths, A, start, end, kernel : as in :func:`forward_backward`
    tags : ndarray of int, shape (T, B)
        Usually the Viterbi paths.
    spans : ndarray of int, shape (n, 3)
        Rows ``(b, first, stop)``: positions ``first <= t < stop`` of sequence b, ``stop <= L_b``.

    Returns
    -------
    ndarray of float64, shape (n,)

    Notes
    -----
    With ``i = first`` and ``j = stop - 1``, the probability that ``y_i..y_j`` equal ``tags_i..tags_j``
    whatever the other tags is the forward score of the prefixes ending in ``tags_i``, times the scores
    inside the span, times the backward score of the suffixes after ``tags_j``, over Z:

        log P = alpha[i, y_i] + sum_{t=i+1}^{j} (A[y_{t-1}, y_t] + E[t, y_t]) + beta[j, y_j] - log Z

    This equals a forward pass with the span's tags clamped, minus log Z, and is exact; the product of
    the token marginals of the span would only approximate it (it ignores their correlation). The kernel
    computes alpha and beta once per sequence that has a span, over its real positions only.
    """
    kernels = select("crf", kernel)
    E, A, start, end = _check_scores(E, A, start, end)
    T, B, K = E.shape
    padded = as_padded(lengths, T, B)
    lengths = padded.lengths
    tags = _check_tags(tags, padded, (T, B), K)
    spans = np.asarray(spans)
    if spans.size == 0:
        return np.zeros(0)
    if spans.ndim != 2 or spans.shape[1] != 3 or not np.issubdtype(spans.dtype, np.integer):
        raise ValueError(f"spans must be integer rows (b, first, stop) of shape (n, 3), got {spans.dtype} "
                         f"of shape {spans.shape}")
    b, first, stop = spans.T.astype(np.int64)
    if b.min() < 0 or b.max() >= B:
        raise ValueError(f"span sequence indices must lie in 0..{B - 1}, got {b.min()}..{b.max()}")
    bad = (first < 0) | (stop <= first) | (stop > lengths[b])
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"span {tuple(int(v) for v in spans[row])} must satisfy 0 <= first < stop <= "
                         f"length {lengths[b[row]]} of its sequence")
    spans = np.ascontiguousarray(spans, dtype=np.int64)                         # (n, 3)
    return np.asarray(kernels.span_log_probability(E, lengths, A, start, end, tags, spans))


def _count_non_finite(x: np.ndarray) -> str:
    return f"{np.count_nonzero(~np.isfinite(x))} of {x.size} values NaN or infinite"


# ----------------------------------------------------------------------------------------------------------
# The layer
# ----------------------------------------------------------------------------------------------------------

class CRF(OutputLayer):
    """Linear-chain conditional random field over per-token tag scores.

    Parameters
    ----------
    n_tags : int
        K, the number of tags; the layer input is the emission scores ``X (T, B, K)``.
    constraints : Constraints, tuple (allowed, allowed_start, allowed_end) or ndarray (K, K), optional
        Boolean masks of the transitions the tag scheme allows. When given, decoding (``predict``,
        ``viterbi``, ``kbest``, ``marginals``, ``span_confidence``) forbids the others by default.
    train_constrained : bool
        Also forbid them in the loss (allennlp-style training with constraints): Z then sums only over
        allowed sequences and gold sequences must be allowed. Default False.
    kernel : {"cython", "numpy"}
        The compiled kernels (default) or their NumPy twins in :mod:`nertag.net.crf_numpy`.

    Notes
    -----
    Parameters: ``A (K, K)`` transitions (zeros, weight decay), ``start (K,)`` and ``end (K,)`` (zeros,
    no decay). The loss of a batch is ``sum_b (log Z_b - score(gold_b))`` and its gradients are

        dL/dE[t, b, j] = P(y_t = j) - [gold_t = j]                 (real positions; 0 at padding)
        dL/dA[i, j]    = sum_{b,t} P(y_t = i, y_t+1 = j) - #{gold transitions i -> j}
        dL/ds[j]       = sum_b P(y_0 = j) - #{gold_0 = j},   dL/de[j] likewise at t = L_b - 1.

    Under constraints the forbidden entries are -inf constants, so their gradient is 0.

    References
    ----------
    Lafferty, McCallum and Pereira (2001), ICML.
    """

    def __init__(self, n_tags: int, constraints=None, *, train_constrained: bool = False, kernel: str = "cython"):
        super().__init__()
        if n_tags < 1:
            raise ValueError(f"a CRF needs at least one tag, got n_tags={n_tags}")
        self.n_tags = int(n_tags)
        self.constraints = None if constraints is None else Constraints.coerce(constraints, self.n_tags)
        if train_constrained and self.constraints is None:
            raise ValueError("train_constrained=True needs constraints")
        self.train_constrained = bool(train_constrained)
        self._kernels = select("crf", kernel)
        self.kernel = kernel
        self.param("A", (n_tags, n_tags), initializers.zeros)
        self.param("start", (n_tags,), initializers.zeros, decay=False)
        self.param("end", (n_tags,), initializers.zeros, decay=False)

    # -- helpers ---------------------------------------------------------------------------------------
    def _emissions(self, X, lengths) -> tuple[np.ndarray, Padded]:
        """The emissions ``(T, B, K)``, checked against the layer, and the batch layout."""
        X = np.asarray(X)
        K = self.n_tags
        if X.ndim != 3 or X.shape[2] != K:
            raise ValueError(f"CRF with {K} tags expects emissions of shape (T, B, {K}), got {X.shape}")
        if X.dtype != self.p["A"].dtype:
            raise ValueError(f"CRF emissions have dtype {X.dtype} but its parameters are {self.p['A'].dtype}")
        return X, as_padded(lengths, X.shape[0], X.shape[1])

    def _transitions(self, constrained):
        """(A, start, end), with forbidden entries at -inf when ``constrained``."""
        A, start, end = self.p["A"], self.p["start"], self.p["end"]
        if not constrained:
            return A, start, end
        if self.constraints is None:
            raise ValueError("constrained decoding was asked for but this CRF has no constraints")
        return apply_constraints(A, start, end, self.constraints)

    def _decode_constrained(self, constrained):
        return self.constraints is not None if constrained is None else bool(constrained)

    # -- training --------------------------------------------------------------------------------------
    def loss(self, X, target, lengths=None):
        """Summed negative log-likelihood of the gold tags and dL/dX; accumulates into ``self.g``.

        Parameters
        ----------
        X : ndarray, shape (T, B, K)
            Emission scores, dtype of the parameters.
        target : ndarray of int, shape (T, B)
            Gold tags; padding entries are ignored.
        lengths : Padded, or ndarray of int, shape (B,), optional

        Returns
        -------
        loss : float
        dX : ndarray, shape (T, B, K)
        """
        E, padded = self._emissions(X, lengths)
        T, B, K = E.shape
        gold = _check_tags(target, padded, (T, B), K, what="targets")
        # Overflowing scores are divergence, told apart from gold paths the constraints forbid: the first
        # is the network's doing, the second the data's.
        if not np.isfinite(E).all():
            raise NonFiniteScores(f"the CRF emissions are not finite ({_count_non_finite(E)})")
        if self.train_constrained:
            check_gold_allowed(gold, padded, self.constraints)
        A, start, end = self._transitions(self.train_constrained)
        # 1. log Z, marginals and expected transition counts.
        E, A, start, end = _check_scores(E, A, start, end)          # diverged parameters (NaN) are refused
        logZ, dE, pair_sum = _forward_backward(self._kernels, E, padded, A, start, end)
        # 2. Gold scores.
        gold_score = _sequence_score(E, padded, A, start, end, gold)               # (B,)
        for name, x in (("log Z", logZ), ("gold path scores", gold_score)):
            if not np.isfinite(x).all():
                raise NonFiniteScores(f"the CRF {name} are not finite ({_count_non_finite(x)})")
        loss = float(np.sum(logZ - gold_score))
        # 3. dE = marginals - onehot(gold) at real positions (marginals are already 0 at padding).
        real = padded.mask                                                          # (T, B)
        t_idx, b_idx = padded.real
        dE[t_idx, b_idx, gold[t_idx, b_idx]] -= 1.0
        # 4. dA = expected - gold transition counts; dstart, dend likewise at the first and last tags.
        pairs = (gold[:-1] * K + gold[1:])[real[1:]]
        self.g["A"] += pair_sum - np.bincount(pairs, minlength=K * K).reshape(K, K)
        #    dE already holds P(y_t = j) - [gold_t = j], so its rows at t = 0 and t = L_b - 1 are those terms.
        self.g["start"] += dE[0].sum(axis=0)
        self.g["end"] += dE[padded.lengths - 1, np.arange(B)].sum(axis=0)
        return loss, dE

    # -- decoding --------------------------------------------------------------------------------------
    def predict(self, X, lengths=None):
        """Viterbi paths ``(T, B)`` int64, 0 at padding (constrained when the layer has constraints)."""
        return self.viterbi(X, lengths)[0]

    def viterbi(self, X, lengths=None, constrained=None):
        """Best paths ``(T, B)`` int64 and their scores ``(B,)`` float64.

        ``constrained``: None forbids the scheme's impossible transitions iff the layer has constraints.
        """
        E, lengths = self._emissions(X, lengths)
        A, start, end = self._transitions(self._decode_constrained(constrained))
        return viterbi(E, lengths, A, start, end, kernel=self.kernel)

    def kbest(self, X, lengths=None, k: int = 1, constrained=None):
        """The k best paths ``(k, T, B)`` int64 and scores ``(k, B)`` float64, best first."""
        E, lengths = self._emissions(X, lengths)
        A, start, end = self._transitions(self._decode_constrained(constrained))
        return kbest_viterbi(E, lengths, A, start, end, k)

    def marginals(self, X, lengths=None, constrained=None):
        """Token marginals ``P(y_t = j | X)``, shape ``(T, B, K)`` in the dtype of X, 0 at padding."""
        return self.partition(X, lengths, constrained)[1]

    def partition(self, X, lengths=None, constrained=None):
        """``log Z`` ``(B,)`` float64 and the token marginals ``(T, B, K)``, under the decoding constraints
        (so that ``exp(score - log Z)`` of a :meth:`kbest` path is its probability)."""
        E, lengths = self._emissions(X, lengths)
        A, start, end = self._transitions(self._decode_constrained(constrained))
        return forward_backward(E, lengths, A, start, end, kernel=self.kernel)[:2]

    def span_confidence(self, X, lengths, paths, spans, constrained=None):
        """Probability of each predicted span's tags, shape ``(n,)``.

        Parameters
        ----------
        X : ndarray, shape (T, B, K)
        lengths : Padded, or ndarray of int, shape (B,), or None
        paths : ndarray of int, shape (T, B)
            Predicted tags (e.g. from :meth:`predict`).
        spans : ndarray of int, shape (n, 3)
            Rows ``(b, first, stop)``, ``stop`` exclusive: the tokens of each predicted entity.

        Notes
        -----
        Exact: ``P(y_first..y_stop-1 = paths[first:stop, b] | X)``, marginalising the tags outside the span
        (see :func:`span_log_probability`), under the same constraints as decoding.
        """
        E, lengths = self._emissions(X, lengths)
        A, start, end = self._transitions(self._decode_constrained(constrained))
        return np.exp(span_log_probability(E, lengths, A, start, end, paths, spans, kernel=self.kernel))
