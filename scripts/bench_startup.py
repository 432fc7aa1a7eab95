"""Benchmark (not a test): whole-process start-up of ``nertag`` commands, checkouts side by side.

Runs each command as a fresh process, alternating between the checkouts given (so that a busy machine
slows all of them alike), one BLAS thread, and prints the median wall time and the median CPU time
(user + system) of each. The commands: ``nertag --help`` and tagging one sentence from standard input
(``echo "John lives in Berlin ." | nertag tag``) with the bundled model.

Usage::

    python scripts/bench_startup.py [--runs 21] [--bytecode] [CHECKOUT ...]     # default: this checkout

A checkout is a source tree with built kernels; it is put first on ``PYTHONPATH``. ``--bytecode`` lets
Python cache the compiled modules (in a temporary ``PYTHONPYCACHEPREFIX``, not in the checkouts), as an
installed package has them; without it the environment decides (``PYTHONDONTWRITEBYTECODE=1`` makes every
process compile the checkout's sources again).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCE = b"John lives in Berlin .\n"
COMMANDS = {"--help": (["--help"], b""), "tag 1 sentence": (["tag"], SENTENCE)}


BYTECODE: dict[str, str] = {}


def run_once(checkout: str, args: list[str], stdin: bytes) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m nertag ARGS`` process."""
    env = {**os.environ, "PYTHONPATH": checkout, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    if BYTECODE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = BYTECODE[checkout]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nertag", *args], input=stdin, env=env, cwd="/",
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: nertag {' '.join(args)} failed:\n{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", default=[str(Path(__file__).resolve().parents[1])])
    parser.add_argument("--runs", type=int, default=21, help="processes per command and checkout")
    parser.add_argument("--bytecode", action="store_true", help="cache compiled modules, as an install does")
    args = parser.parse_args()
    checkouts = [str(Path(c).resolve()) for c in args.checkouts]
    if args.bytecode:
        cache = tempfile.mkdtemp(prefix="nertag-pycache-")
        BYTECODE.update({c: os.path.join(cache, str(i)) for i, c in enumerate(checkouts)})
    print(f"python {sys.version.split()[0]}, 1 BLAS thread, {args.runs} alternating runs each, bytecode "
          f"{'cached' if args.bytecode else 'as the environment says'}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<16}{'checkout':<28}{'wall median s':>14}{'cpu median s':>14}")
    for name, (command, stdin) in COMMANDS.items():
        times = {c: [] for c in checkouts}
        for c in checkouts:
            run_once(c, command, stdin)                                  # warm the page cache and .pyc files
        for _ in range(args.runs):
            for c in checkouts:
                times[c].append(run_once(c, command, stdin))
        for c in checkouts:
            wall = statistics.median(w for w, _ in times[c])
            cpu = statistics.median(u for _, u in times[c])
            print(f"{name:<16}{c:<28}{wall:>14.3f}{cpu:>14.3f}")


if __name__ == "__main__":
    main()
