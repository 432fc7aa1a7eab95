#!/usr/bin/env python3
"""Scaling of `nertag tag-corpus` on local Dask clusters: tokens/s with 1 and 2 worker processes, and the
overhead of one partition.

The corpus is a CoNLL file's sentences, one per line (words joined by spaces, tagged with the whitespace
tokeniser), repeated ``--repeat`` times and cut into ``--partitions`` files. Both clusters (1 and 2 workers,
one thread each) are started first and warmed up (each worker loads the model once, on a small partition,
timed apart); then the corpus is tagged on each in alternating rounds, each into a fresh output directory,
and the medians compared as a ratio. The overhead per partition is the wall time of ``--tiny`` partitions of
one sentence each on the 1-worker cluster, divided by their number (scheduling, opening, the two atomic
writes with their fsyncs). The same files tagged in this process without Dask give the baseline.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python scripts/bench_dask.py --conll ../shared/data/conll2003/eng.train

Prints the BLAS kernel the workers run (threadpoolctl) and the load average before and after: the ratio means
something only on otherwise idle cores.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's nertag

from nertag.cluster import connect  # noqa: E402
from nertag.corpus import CorpusOptions, ModelSource, tag_corpus, tag_file  # noqa: E402
from nertag.model_dir import bundled_model  # noqa: E402


def write_corpus(conll: Path, directory: Path, repeat: int, partitions: int) -> tuple[list[Path], int]:
    """The sentences of ``conll`` as lines, ``repeat`` times, in ``partitions`` files of equal line counts."""
    lines, words = [], []
    for line in conll.read_text(encoding="utf-8").splitlines() + [""]:
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                lines.append(" ".join(words))
            words = []
        else:
            words.append(fields[0])
    lines *= repeat
    directory.mkdir(parents=True)
    step = -(-len(lines) // partitions)
    paths = []
    for i in range(partitions):
        path = directory / f"part{i:03d}.txt"
        path.write_text("".join(line + "\n" for line in lines[i * step:(i + 1) * step]), encoding="utf-8")
        paths.append(path)
    return paths, sum(len(line.split()) for line in lines)


def in_process(paths: list[Path], model: Path, options: CorpusOptions, out: Path) -> float:
    """Seconds to tag the files in this process, one after another, without Dask (the model loaded before)."""
    from threadpoolctl import threadpool_limits

    from nertag.data._lines import open_binary
    from nertag.formats import LineTap
    from nertag.tagger import Tagger

    tagger = Tagger.load(model)
    out.mkdir()
    with threadpool_limits(1):
        start = time.perf_counter()
        for path in paths:
            with open_binary(path) as raw, (out / path.name).open("w", encoding="utf-8") as f:
                tag_file(tagger, LineTap(raw, str(path)), f, options)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conll", type=Path, default=Path("../shared/data/conll2003/eng.train"))
    parser.add_argument("--model", type=Path, default=None, help="[default: the bundled model]")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--tiny", type=int, default=200, help="one-sentence partitions for the overhead")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = args.model or bundled_model()
    options = CorpusOptions(tokenizer="whitespace", output_format="conll")
    source = ModelSource.shared(model)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        paths, tokens = write_corpus(args.conll, tmp / "corpus", args.repeat, args.partitions)
        tiny = tmp / "tiny"
        tiny.mkdir()
        first = paths[0].read_text(encoding="utf-8").splitlines()[0] + "\n"
        for i in range(args.tiny):
            (tiny / f"t{i:04d}.txt").write_text(first, encoding="utf-8")
        print(f"corpus: {args.conll} x {args.repeat}, {tokens:,} tokens in {args.partitions} files; "
              f"model {model}; cpus {os.cpu_count()}")
        clusters = {n: stack.enter_context(connect("local", n)) for n in (1, 2)}
        warm = tmp / "warm"
        warm.mkdir()
        (warm / "w.txt").write_text(first * 10, encoding="utf-8")
        for n, client in clusters.items():  # the model loaded once per worker: timed here, not in the rounds
            start = time.perf_counter()
            tag_corpus(client, [warm] * 1, tmp / f"warm-out-{n}", source, options)
            print(f"{n} worker(s): started; first partition (model load) {time.perf_counter() - start:.2f} s")
            assert client.run(lambda: __import__("nertag.corpus").corpus._cache), "model not cached"
        kernels = clusters[1].run(lambda: [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                                           f"threads={i.get('num_threads')}"
                                           for i in __import__("threadpoolctl").threadpool_info()
                                           if i.get("user_api") == "blas"])
        print(f"BLAS in the workers: {sorted({k for ks in kernels.values() for k in ks})}")
        seconds: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}  # CPU seconds of the workers, and of this process apart
        here: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.rounds):
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                out = tmp / f"out-{n}-{r}"
                before, mine = clusters[n].run(time.process_time), time.process_time()
                report = tag_corpus(clusters[n], paths, out, source, options)
                after = clusters[n].run(time.process_time)
                here[n].append(time.process_time() - mine)
                assert report.ok and sum(o.tokens for o in report.outcomes) == tokens
                assert after.keys() == before.keys(), "a worker restarted"
                seconds[n].append(report.seconds)
                cpu[n].append(sum(after[w] - before[w] for w in after))
                shutil.rmtree(out)
        base = in_process(paths, model, options, tmp / "in-process")
        overheads = []
        for r in range(args.rounds):
            report = tag_corpus(clusters[1], [tiny], tmp / f"tiny-out-{r}", source, options)
            assert report.ok
            overheads.append(report.seconds / args.tiny)
    load_after = os.getloadavg()
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    print(f"in this process, no Dask: {tokens / base:,.0f} tokens/s ({base:.2f} s)")
    print(f"1 worker : {tokens / one:,.0f} tokens/s (median {one:.2f} s of {[round(s, 2) for s in seconds[1]]})")
    print(f"2 workers: {tokens / two:,.0f} tokens/s (median {two:.2f} s of {[round(s, 2) for s in seconds[2]]})")
    print(f"speed-up 2 workers / 1 worker: {one / two:.2f}x; 1 worker / in-process: {base / one:.2f}x")
    # Under contention the wall-clock ratio says how busy the machine was; the CPU time says what the work
    # costs: equal tokens per worker-CPU-second with 1 and 2 workers mean no lock or queue between them.
    for n in (1, 2):
        c = statistics.median(cpu[n])
        print(f"{n} worker(s): {tokens / c:,.0f} tokens per worker-CPU-second (median {c:.2f} CPU s of the workers; "
              f"client and scheduler {statistics.median(here[n]):.2f} CPU s)")
    print(f"overhead per partition (1 worker, {args.tiny} one-sentence files): "
          f"{1000 * statistics.median(overheads):.1f} ms (rounds: {[round(1000 * o, 1) for o in overheads]})")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
