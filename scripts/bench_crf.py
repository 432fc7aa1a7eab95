"""Benchmark (not a test): tokens/s of the CRF Cython kernels against their NumPy twins.

K = 17 tags (BIOES with 4 entity types), batches of B in {1, 32, 256} sequences with CoNLL-like lengths
(mean ~14, max 60), one thread. Counts real tokens only (padding is free work for neither side).

``span_confidence`` times the whole public call ``crf.span_log_probability`` (input checks included) with
the kernel against the NumPy path it replaced (the forward-backward of ``crf_numpy.alpha_beta`` over all
padded positions, then the span sums), on spans like CoNLL-2003's entities (0.12 per token, 1-4 tokens).

Usage::

    python scripts/bench_crf.py [--dtype float32|float64] [--seconds 0.5]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from nertag.net import _crf, crf, crf_numpy  # noqa: E402

K = 17
BATCH_SIZES = (1, 32, 256)


def conll_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sentence lengths shaped like CoNLL-2003 English: mean ~14 tokens, a long tail capped at 60."""
    return np.clip(np.round(rng.gamma(2.0, 6.8, size=n)), 1, 60).astype(np.int64)


def make_batches(rng, B, n_tokens, dtype):
    batches, total = [], 0
    while total < n_tokens:
        lengths = conll_lengths(rng, B)
        T = int(lengths.max())
        E = rng.normal(size=(T, B, K)).astype(dtype)
        batches.append((E, lengths))
        total += int(lengths.sum())
    return batches


def entity_spans(rng, lengths):
    """Span rows (b, first, stop) at about CoNLL-2003's density: 0.12 entities per token, 1-4 tokens long."""
    rows = []
    for b, L in enumerate(lengths):
        t = 0
        while t < L:
            if rng.random() < 0.12:
                stop = min(L, t + int(rng.choice([1, 2, 3, 4], p=[0.6, 0.3, 0.07, 0.03])))
                rows.append((b, t, stop))
                t = stop
            t += 1
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def former_span_log_probability(E, lengths, A, start, end, tags, spans):
    """What ``crf.span_log_probability`` computed before its kernel: alpha and beta over every padded
    position (``crf_numpy.alpha_beta``), then the sums inside the spans by a cumulative sum."""
    E, A, start, end = crf._check_scores(E, A, start, end)
    T, B, K = E.shape
    padded = crf.as_padded(lengths, T, B)
    tags = crf._check_tags(tags, padded, (T, B), K)
    b, first, stop = np.asarray(spans).T.astype(np.int64)
    alpha, beta, logZ = crf_numpy.alpha_beta(E, padded.lengths, A, start, end)
    inc = np.zeros((T, B))
    if T > 1:
        inc[1:] = A.astype(np.float64)[tags[:-1], tags[1:]] + np.take_along_axis(E[1:], tags[1:, :, None], 2)[:, :, 0]
    cum = np.cumsum(inc, axis=0)
    last = stop - 1
    return alpha[first, b, tags[first, b]] + cum[last, b] - cum[first, b] + beta[last, b, tags[last, b]] - logZ[b]


def tokens_per_second(fn, batches, seconds):
    """Best of repeated passes over ``batches`` (at least ``seconds`` of work in all)."""
    tokens = sum(int(lengths.sum()) for _, lengths in batches)
    best, spent = np.inf, 0.0
    while spent < seconds or best == np.inf:
        t0 = time.perf_counter()
        for E, lengths in batches:
            fn(E, lengths)
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return tokens / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum timed work per cell")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    A = rng.normal(scale=0.5, size=(K, K)).astype(dtype)
    start, end = rng.normal(size=K).astype(dtype), rng.normal(size=K).astype(dtype)
    pair = np.empty((K, K))

    def fb(kernel):
        def run(E, lengths):
            kernel(E, lengths, A, start, end, np.empty_like(E), pair)
        return run

    def vit(kernel):
        return lambda E, lengths: kernel(E, lengths, A, start, end)

    sample = conll_lengths(np.random.default_rng(1), 100_000)
    print(f"K={K}, dtype={dtype}, 1 thread; lengths mean {sample.mean():.1f}, max {sample.max()}")
    print(f"{'kernel':<17}{'B':>5}{'Cython tok/s':>15}{'NumPy tok/s':>15}{'ratio':>9}")
    for name, wrap, twin in (("forward_backward", fb, crf_numpy.forward_backward), ("viterbi", vit, crf_numpy.viterbi)):
        kernel = getattr(_crf, name)
        for B in BATCH_SIZES:
            batches = make_batches(np.random.default_rng(B), B, max(20_000, 20 * B), dtype)
            fast = tokens_per_second(wrap(kernel), batches, args.seconds)
            slow = tokens_per_second(wrap(twin), batches, args.seconds)
            print(f"{name:<17}{B:>5}{fast:>15,.0f}{slow:>15,.0f}{fast / slow:>8.1f}x")
    print(f"\n{'span_confidence':<17}{'B':>5}{'kernel tok/s':>15}{'former tok/s':>15}{'ratio':>9}"
          f"{'max |diff| of P':>17}")
    for B in (32, 256):
        batches = make_batches(np.random.default_rng(B), B, max(20_000, 20 * B), dtype)
        work = {}
        for E, lengths in batches:
            tags = _crf.viterbi(E, lengths, A, start, end)[0]
            work[id(E)] = (tags, entity_spans(np.random.default_rng(int(lengths.sum())), lengths))

        def spans_with(fn):
            return lambda E, lengths: fn(E, lengths, A, start, end, *work[id(E)])

        new = spans_with(crf.span_log_probability)
        old = spans_with(former_span_log_probability)
        diff = max(float(np.max(np.abs(np.exp(new(E, L)) - np.exp(old(E, L))), initial=0.0)) for E, L in batches)
        fast = tokens_per_second(new, batches, args.seconds)
        slow = tokens_per_second(old, batches, args.seconds)
        print(f"{'span_confidence':<17}{B:>5}{fast:>15,.0f}{slow:>15,.0f}{fast / slow:>8.1f}x{diff:>17.1e}")


if __name__ == "__main__":
    main()
