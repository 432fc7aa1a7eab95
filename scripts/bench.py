"""Benchmark (not a test): nertag against PyTorch references of the same BiGRU-CRF and BiLSTM-CRF, side by side.

Usage::

    python scripts/bench.py [--repeats 3] [--threads 1 2] [--cells gru lstm] [--conll FILE] [--torch-python PATH]
                            [--quick]

Both sides train (forward + backward + SGD update) at B = 1, 10, 32 and tag (forward + Viterbi) at
B = 1, 32, 256, on the reference's synthetic corpus (2000 sentences, CoNLL-2003-like lengths: mean 14.4,
max 60; V=20000, K=17) or on a CoNLL file, with E=100, H=100 per direction, float32, plain SGD lr 0.01,
no dropout, batches of similar length (``--bucket``: sorted by length, cut, batch order shuffled) on both
sides. Each setting runs for every cell of ``--cells``: ``gru``, the tagger's default (the reference is
``shared/bench/torch_bigru_crf.py``, nn.GRU), and ``lstm``, the tagger with ``cell="lstm"`` (the reference is
``scripts/torch_bilstm_crf.py``, nn.LSTM, the same model otherwise). The references run with ``--bucket``
(and ``--sparse-emb`` for training, their faster variant with plain SGD; ``--ref-dense-emb`` measures the
dense-gradient variant too and keeps the faster) by the interpreter of ``--torch-python`` (default
``/work/torchvenv/bin/python``); PyTorch is never a dependency of nertag. Without that interpreter only
nertag is measured.

Every measurement is a fresh child process with its BLAS/OpenMP thread count fixed before NumPy (or
PyTorch) loads. For each setting the two sides alternate (nertag, reference, reference, nertag, ...) and the
medians of ``--repeats`` runs are compared: the machine may be busy, and alternating spreads that evenly.
Training times one epoch after a warm-up step; tagging repeats passes for ``--min-seconds``.

What nertag runs per batch is what ``nertag/train.py`` does: ``buffer.zero_grad()``,
``TaggerNet.loss(batch, rng, words)`` (forward, CRF loss, backward), ``opt.step()``; tagging is
``TaggerNet.decode(batch)``. The network is the tagger's with ``char_dim=0`` (the reference has no
character features) and no decoding constraints (nor has the reference).

The header names the BLAS kernels nertag's children ran (threadpoolctl) and the load average before the
first and after the last run. The last lines summarise the 1-thread ratios, one line per cell:
``speedup train@10=X train@32=X tag@256=X`` (the GRU's, as before) and ``speedup lstm train@10=X ...``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = {"gru": ROOT.parent / "shared" / "bench" / "torch_bigru_crf.py",   # config.cell -> PyTorch model
              "lstm": ROOT / "scripts" / "torch_bilstm_crf.py"}
DEFAULT_TORCH_PYTHON = Path("/work/torchvenv/bin/python")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
E, H, K, V, N, LR = 100, 100, 17, 20000, 2000, 0.01


# ------------------------------------------------------------------------------------------ the nertag side
def synthetic_corpus(n, vocab, tags, seed, max_len=60):
    """The reference's synthetic corpus, drawn identically (same generator calls, same seed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    body = np.rint(rng.gamma(3.0, 6.1, size=n)).astype(np.int64)
    lens = np.where(rng.random(n) < 0.25, rng.integers(1, 6, size=n), body)
    lens = np.clip(lens, 1, max_len)
    ranks = np.arange(1, vocab)
    p = 1.0 / (ranks + 2.7) ** 1.07
    words = rng.choice(ranks, size=int(lens.sum()), p=p / p.sum())
    tag_ids = rng.integers(0, tags, size=int(lens.sum()))
    cuts = np.cumsum(lens)[:-1]
    return list(zip(np.split(words, cuts), np.split(tag_ids, cuts)))


def read_conll(path):
    """The reference's CoNLL reading: word first, tag last, ids in order of first appearance (0 = padding)."""
    import itertools

    import numpy as np

    sents, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in itertools.chain(f, [""]):
            cols = line.split()
            if not cols:
                if cur:
                    sents.append(cur)
                cur = []
            elif cols[0] != "-DOCSTART-":
                cur.append((cols[0], cols[-1]))
    wid, tid, out = {"<pad>": 0}, {}, []
    for s in sents:
        w = np.array([wid.setdefault(a, len(wid)) for a, _ in s], dtype=np.int64)
        t = np.array([tid.setdefault(b, len(tid)) for _, b in s], dtype=np.int64)
        out.append((w, t))
    return out, len(wid), len(tid)


def make_batches(sents, batch_size, seed):
    """The reference's bucketed batches: sort by length, cut, shuffle the batch order; longest first within."""
    import numpy as np

    from nertag.data.batches import Encoded, collate

    rng = np.random.default_rng(seed + 1)
    lens = np.array([len(w) for w, _ in sents])
    order = np.argsort(lens, kind="stable")
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    encoded = [Encoded(w, None, None, t) for w, t in sents]
    return [collate(encoded, sorted(idx, key=lambda i: -lens[i])) for idx in chunks]


def run_nertag(args) -> dict:
    """One measurement in this (child) process; thread variables are already set."""
    import numpy as np

    from nertag.config import Config
    from nertag.network import TaggerNet
    from nertag.net.optim import SGD
    from nertag.net.params import ParamBuffer

    if args.conll:
        sents, vocab, tags = read_conll(args.conll)
    else:
        vocab, tags = V, K
        sents = synthetic_corpus(args.n, vocab, tags, args.seed)
    batches = make_batches(sents, args.batch, args.seed)
    ntok = sum(len(w) for w, _ in sents)
    config = Config(word_dim=E, hidden=H, char_dim=0, dropout=0.0, optimizer="sgd", lr=LR, dtype="float32",
                    constrained=False, cell=args.cell)
    net = TaggerNet(config, vocab, 1, tags)
    buffer = ParamBuffer(net, np.float32, seed=args.seed)
    if args.mode == "train":
        opt = SGD(buffer, LR)
        rng = np.random.default_rng(args.seed)

        def step(batch):
            buffer.zero_grad()
            loss = net.loss(batch, rng, batch.words)
            opt.step()
            return loss

        step(batches[0])                                               # warm-up, not timed
        start = time.perf_counter()
        for batch in batches:                                          # one timed epoch
            step(batch)
        seconds, passes = time.perf_counter() - start, 1
    else:
        net.decode(batches[0])                                         # warm-up, not timed
        passes, start = 0, time.perf_counter()
        while True:
            for batch in batches:
                net.decode(batch)
            passes += 1
            if time.perf_counter() - start >= args.min_seconds:
                break
        seconds = time.perf_counter() - start
    return {"tok_s": ntok * passes / seconds, "tokens": ntok, "sentences": len(sents), "blas": blas_kernels()}


def blas_kernels() -> str:
    """The BLAS libraries loaded in this process, their kernel and thread count (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return "; ".join(sorted({f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                             f"x{i.get('num_threads')}" for i in threadpool_info() if i.get("user_api") == "blas"}))


# ------------------------------------------------------------------------------------------ orchestration
def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON result line in:\n{text[-2000:]}")


def measure(side: str, cell: str, mode: str, batch: int, threads: int, args, dense_emb: bool = False) -> dict:
    if side == "nertag":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--mode", mode, "--batch", str(batch),
               "--n", str(args.n), "--seed", str(args.seed), "--min-seconds", str(args.min_seconds),
               "--cell", cell]
        if args.conll:
            cmd += ["--conll", args.conll]
    else:
        cmd = [str(args.torch_python), str(REFERENCES[cell]), mode, "--batch", str(batch), "--threads", str(threads),
               "--bucket", "--json", "--seed", str(args.seed), "--min-seconds", str(args.min_seconds),
               "--emb", str(E), "--hidden", str(H), "--lr", str(LR)]
        cmd += ["--conll", args.conll] if args.conll else ["--n", str(args.n), "--vocab", str(V), "--tags", str(K)]
        if mode == "train" and not dense_emb:
            cmd.append("--sparse-emb")
    done = subprocess.run(cmd, env=child_env(threads), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return last_json(done.stdout)


def settings(args):
    for threads in args.threads:
        for cell in args.cells:
            for batch in args.train_batches:
                yield cell, "train", batch, threads
            for batch in args.tag_batches:
                yield cell, "tag", batch, threads


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per side and setting (medians are compared)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cells", nargs="+", choices=sorted(REFERENCES), default=["gru", "lstm"],
                    help="sentence encoders to compare (config.cell), each against its own reference")
    ap.add_argument("--train-batches", type=int, nargs="*", default=[1, 10, 32])
    ap.add_argument("--tag-batches", type=int, nargs="*", default=[1, 32, 256])
    ap.add_argument("--conll", help="a CoNLL file instead of the synthetic corpus")
    ap.add_argument("--n", type=int, default=N, help="synthetic sentences")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="timed seconds per tagging run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--torch-python", type=Path, default=DEFAULT_TORCH_PYTHON,
                    help="interpreter with torch installed, for the reference")
    ap.add_argument("--ref-dense-emb", action="store_true",
                    help="also run the reference's dense embedding gradient for training; keep its faster variant")
    ap.add_argument("--quick", action="store_true", help="1 thread, 1 repeat, 1 s tagging: a smoke run")
    ap.add_argument("--json", type=Path, help="also write all runs here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["train", "tag"], help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cell", choices=sorted(REFERENCES), default="gru", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_nertag(args)))
        return
    if args.quick:
        args.threads, args.repeats, args.min_seconds = [1], 1, 1.0
    missing = [str(REFERENCES[cell]) for cell in args.cells if not REFERENCES[cell].exists()]
    reference = args.torch_python.exists() and not missing
    if not reference:
        print(f"reference skipped: no PyTorch interpreter at {args.torch_python} (see --torch-python) "
              f"or no {', '.join(missing)}", flush=True)
    data = args.conll or f"synthetic: {args.n} sentences, V={V}, K={K}"
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {machine()}")
    print(f"data: {data}; E={E}, H={H} per direction, float32, SGD lr {LR}, bucketed batches; "
          f"medians of {args.repeats} alternating runs", flush=True)
    print(f"{'setting':<23}{'nertag tok/s':>14}{'reference tok/s':>17}{'ratio':>8}", flush=True)
    rows, blas = [], set()
    for cell, mode, batch, threads in settings(args):
        ours, theirs = [], []
        for rep in range(args.repeats):
            sides = ["nertag", "reference"] if rep % 2 == 0 else ["reference", "nertag"]
            for side in sides:
                if side == "nertag":
                    result = measure("nertag", cell, mode, batch, threads, args)
                    ours.append(result["tok_s"])
                    blas.add((threads, result["blas"]))
                elif reference:
                    tok_s = measure("reference", cell, mode, batch, threads, args)["tok_s"]
                    if mode == "train" and args.ref_dense_emb:
                        tok_s = max(tok_s, measure("reference", cell, mode, batch, threads, args,
                                                   dense_emb=True)["tok_s"])
                    theirs.append(tok_s)
        mine = statistics.median(ours)
        ref = statistics.median(theirs) if theirs else None
        ratio = mine / ref if ref else None
        rows.append({"cell": cell, "mode": mode, "batch": batch, "threads": threads, "nertag": ours,
                     "reference": theirs, "nertag_median": mine, "reference_median": ref, "ratio": ratio})
        label = f"{cell} {mode} B={batch} {threads}t"
        print(f"{label:<23}{mine:>14,.0f}{(f'{ref:,.0f}' if ref else '-'):>17}"
              f"{(f'{ratio:.2f}x' if ratio else '-'):>8}", flush=True)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for threads, kernels in sorted(blas):
        print(f"BLAS of nertag's children at {threads} thread(s): {kernels}")
    print(f"load average (1, 5, 15 min) before: {load_before}, after: {load_after}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "data": data, "blas": sorted(blas),
                                         "load_before": load_before, "load_after": load_after, "rows": rows},
                                        indent=1))

    def speedup(cell, mode, batch):
        for row in rows:
            if (row["cell"], row["mode"], row["batch"], row["threads"]) == (cell, mode, batch, 1) and row["ratio"]:
                return f"{row['ratio']:.2f}"
        return "n/a"

    for cell in args.cells:
        name = "" if cell == "gru" else f"{cell} "
        print(f"speedup {name}train@10={speedup(cell, 'train', 10)} train@32={speedup(cell, 'train', 32)} "
              f"tag@256={speedup(cell, 'tag', 256)}")


if __name__ == "__main__":
    main()
