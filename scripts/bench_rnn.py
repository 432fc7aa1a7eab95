"""Benchmark (not a test): forward + backward of a BiGRU on CoNLL-like batches, one thread.

Usage::

    python scripts/bench_rnn.py [--seconds S] [--kernel {cython,numpy}]

Prints real (non-padding) tokens per second for E=100 inputs, H=100 per direction, batch sizes
1, 10 and 32, float32 and float64. Sentence lengths are drawn around a mean of 14 tokens, capped at 60.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"                      # before NumPy loads BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nertag.net.bidirectional import Bidirectional  # noqa: E402
from nertag.net.gru import GRU  # noqa: E402
from nertag.net.params import ParamBuffer  # noqa: E402

E, H = 100, 100


def sentence_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """CoNLL-like lengths: 1 + negative binomial (mean 14, long right tail), capped at 60."""
    return np.clip(rng.negative_binomial(2, 2 / 15, size=n) + 1, 1, 60)


def bench(B: int, dtype, seconds: float, rng: np.random.Generator, kernel: str = "cython") -> float:
    layer = Bidirectional(lambda: GRU(E, H, kernel=kernel))
    ParamBuffer(layer, dtype, seed=0)
    batches = []
    for _ in range(50):
        lengths = sentence_lengths(rng, B)
        X = rng.normal(size=(lengths.max(), B, E)).astype(dtype)
        dY = rng.normal(size=(lengths.max(), B, 2 * H)).astype(dtype)
        batches.append((X, lengths, dY))
    tokens, elapsed, i = 0, 0.0, 0
    layer.run(*batches[0][:2])[2](batches[0][2])                  # warm-up
    while elapsed < seconds:
        X, lengths, dY = batches[i % len(batches)]
        start = time.perf_counter()
        _, _, backprop = layer.run(X, lengths)
        backprop(dY)
        elapsed += time.perf_counter() - start
        tokens += int(lengths.sum())
        i += 1
    return tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per configuration")
    parser.add_argument("--kernel", choices=["cython", "numpy"], default="cython",
                        help="GRU kernels (see nertag.net.kernels)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"BiGRU forward+backward, E={E}, H={H} per direction, threads=1, {args.kernel} kernels, "
          f"numpy {np.__version__}")
    print(f"{'B':>4} {'dtype':>8} {'tokens/s':>10}")
    for B in (1, 10, 32):
        for dtype in (np.float32, np.float64):
            print(f"{B:>4} {np.dtype(dtype).name:>8} {bench(B, dtype, args.seconds, rng, args.kernel):>10.0f}", flush=True)


if __name__ == "__main__":
    main()
