"""Benchmark (not a test): training speed of a fixed recipe on CoNLL-2003, checkouts side by side.

Trains one epoch of the recipe in ``scripts/bench_train_recipe.json`` (the bundled model's recipe when the
training-speed issue was filed at 5642ddd, seed included: 200 + 200 word BiGRU, 25 + 25 character BiGRU,
50-d GloVe, batches of 10, Adam, parameter averaging; ``--recipe`` picks another) on the first ``--sentences``
sentences of ``eng.train`` (all of them by default), in a fresh process per run, alternating between the
checkouts given (so that a busy machine slows all of them alike), with one BLAS thread. Prints the median
training tokens/s of each checkout (the epoch's ``tokens_per_s``: the batch loop only, without loading,
vocabulary building, dev scoring or saving), its ratio to the first checkout, and the BLAS libraries and
kernels that ran (``threadpoolctl.threadpool_info()``).

Usage::

    python scripts/bench_train.py [--runs 3] [--sentences N] [--data DIR] [--embeddings FILE] [CHECKOUT ...]

A checkout is a source tree with built kernels; it is put first on ``PYTHONPATH`` (default: this checkout).
Each run builds a new model in a temporary directory from the same recipe file, whatever the checkout bundles
(so that the loss and parameters digest printed compare like with like).
``--profile FILE`` runs this checkout once under cProfile instead and writes the statistics to FILE.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
SHARED = HERE.parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED / "conll2003"
DEFAULT_EMBEDDINGS = SHARED / "embeddings" / "glove.6B.50d.conll2003.txt"
DEFAULT_RECIPE = HERE.parent / "bench_train_recipe.json"
PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker(data: str, embeddings: str, sentences: int, recipe: str, profile: str | None) -> dict:
    """One training epoch in this process (the checkout is whichever ``nertag`` imports); its figures.

    The epoch is the loop of ``nertag.train._train_epoch`` without its progress bar and checkpoints: the
    batches of the run's data generator, one ``_step`` (forward, backward, optimiser, average) each. Wall
    and CPU seconds cover that loop only, not loading, vocabularies, embeddings or saving.
    """
    import nertag
    from nertag.config import Config
    from nertag.data.batches import make_batches
    from nertag.data.conll import load_conll
    from nertag.model_dir import ModelDir
    from nertag.train import _new_run, _step

    config = Config.from_dict(json.loads(Path(recipe).read_text()), recipe).replace(epochs=1)
    train_data = load_conll(os.path.join(data, "eng.train"))
    if sentences:
        train_data = train_data[:sentences]
    with tempfile.TemporaryDirectory(prefix="nertag-bench-train-") as tmp:
        files = ModelDir.for_new_run(os.path.join(tmp, "model"))
        run = _new_run(files, config, train_data, [], embeddings, "eng.train", lambda message: None)
        batches = list(make_batches(run.encoded, run.config.batch_size, rng=run.data_rng))

        def epoch():
            loss = 0.0
            for i, batch in enumerate(batches):
                loss += _step(run, batch, 1, f"batch {i + 1}")
            return loss

        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            import cProfile
            profiler = cProfile.Profile()
            loss = profiler.runcall(epoch)
            profiler.dump_stats(profile)
        else:
            loss = epoch()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        digest = hashlib.sha256(run.tagger.buffer.data.tobytes()).hexdigest()[:16]
    tokens = sum(b.n_tokens for b in batches)
    from threadpoolctl import threadpool_info
    blas = sorted({f"{i['internal_api']} {i.get('version')} {i.get('architecture')} x{i['num_threads']}"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    return {"nertag": nertag.__file__, "tokens": tokens, "batches": len(batches), "wall": wall, "cpu": cpu,
            "wall_tokens_per_s": tokens / wall, "cpu_tokens_per_s": tokens / cpu,
            "loss": loss / len(run.encoded), "parameters": digest, "blas": blas}


def run_once(checkout: str, args) -> dict:
    """One fresh worker process on ``checkout``."""
    env = {**os.environ, "PYTHONPATH": checkout, **PINNED}
    command = [sys.executable, str(HERE), "--worker", "--data", args.data, "--embeddings", args.embeddings,
               "--sentences", str(args.sentences), "--recipe", args.recipe]
    done = subprocess.run(command, env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: training failed:\n{done.stderr.decode()}")
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if not result["nertag"].startswith(checkout):
        raise SystemExit(f"{checkout}: the worker imported nertag from {result['nertag']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", default=[str(HERE.parents[1])])
    parser.add_argument("--runs", type=int, default=3, help="training processes per checkout")
    parser.add_argument("--sentences", type=int, default=0, help="first N sentences of eng.train (0: all)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="directory with eng.train")
    parser.add_argument("--embeddings", default=str(DEFAULT_EMBEDDINGS))
    parser.add_argument("--recipe", default=str(DEFAULT_RECIPE), help="training config.json to train with")
    parser.add_argument("--profile", metavar="FILE", help="one cProfile'd run of this checkout, stats to FILE")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker or args.profile:
        if args.profile:
            os.environ.update(PINNED)               # before NumPy loads its BLAS
        print(json.dumps(worker(args.data, args.embeddings, args.sentences, args.recipe, args.profile)))
        return
    checkouts = [str(Path(c).resolve()) for c in args.checkouts]
    print(f"python {sys.version.split()[0]}, 1 BLAS thread, {args.runs} alternating runs each, "
          f"{'all' if not args.sentences else args.sentences} sentences of eng.train, 1 epoch; "
          f"load average {os.getloadavg()[0]:.2f}")
    runs = {c: [] for c in checkouts}
    for _ in range(args.runs):
        for c in checkouts:
            runs[c].append(run_once(c, args))
    print(f"{'checkout':<28}{'tokens':>8}{'wall tok/s':>12}{'ratio':>7}{'cpu tok/s':>11}{'ratio':>7}"
          f"  {'wall tok/s of each run':<24}  loss, parameters")
    base = {key: statistics.median(r[key] for r in runs[checkouts[0]])
            for key in ("wall_tokens_per_s", "cpu_tokens_per_s")}
    for c in checkouts:
        wall = statistics.median(r["wall_tokens_per_s"] for r in runs[c])
        cpu = statistics.median(r["cpu_tokens_per_s"] for r in runs[c])
        each = " ".join(f"{r['wall_tokens_per_s']:.0f}" for r in runs[c])
        results = sorted({f"{r['loss']:.6f} {r['parameters']}" for r in runs[c]})
        print(f"{c:<28}{runs[c][0]['tokens']:>8}{wall:>12.0f}{wall / base['wall_tokens_per_s']:>7.2f}"
              f"{cpu:>11.0f}{cpu / base['cpu_tokens_per_s']:>7.2f}  {each:<24}  {', '.join(results)}")
    for c in checkouts:
        print(f"BLAS {c}: {'; '.join(runs[c][0]['blas'])}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
