"""Benchmark (not a test): forward + backward of the recurrent layers, one thread.

Usage::

    python scripts/bench_rnn.py [--seconds S] [--cell {gru,lstm}] [--kernel {cython,numpy}]
    python scripts/bench_rnn.py --compare [--rounds 7] [--seconds S]

Without ``--compare``: real (non-padding) tokens per second of a bidirectional GRU or LSTM on CoNLL-like
batches, E=100 inputs, H=100 per direction, batch sizes 1, 10 and 32, float32 and float64. Sentence lengths
are drawn around a mean of 14 tokens, capped at 60.

``--compare``: one direction, forward + backward (``run`` then ``backprop(dY)``) of one full batch
T=30, B=32, D=H=100, float32, for the compiled LSTM scan, the same with its steps' products never cut into
gate blocks (``nertag.net._lstm._set_small_product(0)``: what the cutting gains), its NumPy twin and the
compiled GRU scan (and the GRU's twin). The variants take turns, ``--rounds`` times, each round timing
every variant for ``--seconds``; the medians of the rounds are printed in microseconds per call with their
ratios to the compiled LSTM, beside the BLAS that ran (threadpoolctl) and the load average.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"                      # before NumPy loads BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nertag.net._lstm import _set_small_product  # noqa: E402
from nertag.net.bidirectional import Bidirectional  # noqa: E402
from nertag.net.gru import GRU  # noqa: E402
from nertag.net.lstm import LSTM  # noqa: E402
from nertag.net.params import ParamBuffer  # noqa: E402

E, H = 100, 100
CELLS = {"gru": GRU, "lstm": LSTM}
# --compare: (label, cell, kernel, the compiled LSTM's limit for cutting products, None: its default);
# ratios are to the first
COMPARED = (("LSTM compiled", "lstm", "cython", None), ("LSTM uncut products", "lstm", "cython", 0),
            ("LSTM NumPy twin", "lstm", "numpy", None), ("GRU compiled", "gru", "cython", None),
            ("GRU NumPy twin", "gru", "numpy", None))
COMPARE_T, COMPARE_B = 30, 32


def sentence_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """CoNLL-like lengths: 1 + negative binomial (mean 14, long right tail), capped at 60."""
    return np.clip(rng.negative_binomial(2, 2 / 15, size=n) + 1, 1, 60)


def bench(B: int, dtype, seconds: float, rng: np.random.Generator, kernel: str = "cython",
          cell: str = "gru") -> float:
    layer = Bidirectional(lambda: CELLS[cell](E, H, kernel=kernel))
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


def seconds_per_call(layer, X, dY, seconds: float) -> float:
    """Mean seconds of one forward + backward, repeated for at least ``seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        _, _, backprop = layer.run(X)
        backprop(dY)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def blas_kernels() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(sorted({f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                             f"x{i.get('num_threads')} ({Path(i.get('filepath', '?')).name})"
                             for i in threadpool_info() if i.get("user_api") == "blas"}))


def compare(rounds: int, seconds: float) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(COMPARE_T, COMPARE_B, E)).astype(np.float32)
    dY = rng.normal(size=(COMPARE_T, COMPARE_B, H)).astype(np.float32)
    layers = []
    default_limit = _set_small_product(0)
    _set_small_product(default_limit)
    for _, cell, kernel, _ in COMPARED:
        layer = CELLS[cell](E, H, kernel=kernel)
        ParamBuffer(layer, np.float32, seed=0)
        layer.run(X)[2](dY)                                        # warm-up (workspace, caches)
        layers.append(layer)
    times = [[] for _ in COMPARED]
    for r in range(rounds):
        turn = range(len(COMPARED)) if r % 2 == 0 else reversed(range(len(COMPARED)))
        for j in turn:
            limit = COMPARED[j][3]
            _set_small_product(default_limit if limit is None else limit)
            times[j].append(seconds_per_call(layers[j], X, dY, seconds))
    _set_small_product(default_limit)
    print(f"one direction, forward + backward, T={COMPARE_T} B={COMPARE_B} D={E} H={H} float32, threads=1, "
          f"medians of {rounds} alternating rounds of {seconds:g} s")
    print(f"BLAS: {blas_kernels()}")
    print(f"load average before / after: {LOAD_BEFORE} / {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = statistics.median(times[0])
    print(f"{'variant':<20}{'us per call':>12}{'tokens/s':>11}{'time / LSTM compiled':>22}")
    for (label, _, _, _), t in zip(COMPARED, times):
        m = statistics.median(t)
        print(f"{label:<20}{m * 1e6:>12.0f}{COMPARE_T * COMPARE_B / m:>11.0f}{m / base:>21.2f}x", flush=True)


LOAD_BEFORE = " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None,
                        help="timed seconds per configuration (default 3; 0.5 per variant and round with --compare)")
    parser.add_argument("--cell", choices=sorted(CELLS), default="gru", help="the recurrent cell")
    parser.add_argument("--kernel", choices=["cython", "numpy"], default="cython",
                        help="the cell's kernels (see nertag.net.kernels)")
    parser.add_argument("--compare", action="store_true",
                        help="LSTM compiled vs its NumPy twin vs the compiled GRU at T=30, B=32, D=H=100")
    parser.add_argument("--rounds", type=int, default=7, help="--compare: alternating rounds")
    args = parser.parse_args()
    if args.compare:
        compare(args.rounds, 0.5 if args.seconds is None else args.seconds)
        return
    seconds = 3.0 if args.seconds is None else args.seconds
    rng = np.random.default_rng(0)
    print(f"Bi{args.cell.upper()} forward+backward, E={E}, H={H} per direction, threads=1, {args.kernel} "
          f"kernels, numpy {np.__version__}")
    print(f"{'B':>4} {'dtype':>8} {'tokens/s':>10}")
    for B in (1, 10, 32):
        for dtype in (np.float32, np.float64):
            tok_s = bench(B, dtype, seconds, rng, args.kernel, args.cell)
            print(f"{B:>4} {np.dtype(dtype).name:>8} {tok_s:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
