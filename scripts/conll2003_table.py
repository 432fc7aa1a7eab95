"""Summarise the runs of reproduce_conll2003.sh as the README's table: test F1 mean +- std per variant.

    python scripts/conll2003_table.py [OUT_DIR]                       # the table
    COMMANDS | python scripts/conll2003_table.py --run SCHEDULER [--workers N]

With ``--run`` it runs the sweep instead: each line of standard input is one run's shell command (the
script writes them), run as a task on the Dask cluster at SCHEDULER (``local``: N local worker processes,
one thread each). A run whose worker dies, or that fails, is tried again: the script resumes it from its
checkpoint. Exit code 1 if a run failed in the end (each is named on stderr).
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

NAMES = {"full": "nertag char-BiGRU + GloVe-50d, BiGRU-CRF",
         "wide": "nertag char-BiGRU + GloVe-50d, BiGRU-CRF with 200 + 200 units",
         "full_avg": "nertag char-BiGRU + GloVe-50d, BiGRU-CRF, averaged weights",
         "wide_avg": "nertag char-BiGRU + GloVe-50d, BiGRU-CRF with 200 + 200 units, averaged weights",
         "nochar": "nertag GloVe-50d, BiGRU-CRF (no chars)",
         "random": "nertag char-BiGRU + random 100d, BiGRU-CRF",
         "nochar_wide_avg": "nertag GloVe-50d, BiGRU-CRF (no chars), 200 + 200 units, averaged weights",
         "random_wide_avg": "nertag char-BiGRU + random 100d, BiGRU-CRF, 200 + 200 units, averaged weights",
         "lample": "nertag Lample-style: char-BiLSTM 25 + 25 + GloVe-50d, BiLSTM-CRF 100 + 100",
         "ma_hovy": "nertag Ma & Hovy-style: char-CNN (30 filters) + GloVe-50d, BiLSTM-CRF 200 + 200",
         "distill_wide_avg": "nertag wide_avg student distilled from the 5 wide_avg runs' ensemble",
         "lample_traindev": "nertag Lample-style trained on eng.train + eng.testa, 30 epochs (no dev selection)",
         "ma_hovy_traindev": "nertag Ma & Hovy-style trained on eng.train + eng.testa, 28 epochs (no dev selection)",
         "distill15_lample": "nertag Lample-style student distilled from the 15 wide_avg, lample and ma_hovy runs",
         "distill15_lample_wiki": "nertag distill15_lample students with WikiGold's words teacher-tagged too",
         "distill15_lample_traindev": "nertag distill15_lample students trained on eng.train + eng.testa, 20 epochs "
                                      "(no dev selection)"}


def main(out: Path) -> None:
    print("| model | test F1 (mean +- std) | dev F1 | seeds | best epoch | minutes per run |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in NAMES:
        runs = sorted((out / variant).glob("seed*/test.json"))
        if not runs:
            continue
        test = [json.loads(p.read_text())["overall"]["f1"] for p in runs]
        metas = [json.loads((p.parent / "model" / "meta.json").read_text()) for p in runs]
        dev = [m["scores"]["dev"]["f1"] for m in metas if m["scores"].get("dev")]  # none: dev was trained on
        minutes = [sum(int(s) for s in (p.parent / "seconds").read_text().split()) / 60 for p in runs]
        std = statistics.stdev(test) if len(test) > 1 else 0.0
        best = [m["best_epoch"] for m in metas if m.get("best_epoch") is not None]  # None: dev F1 never rose
        print(f"| {NAMES[variant]} | {statistics.mean(test):.2f} +- {std:.2f} | "
              f"{f'{statistics.mean(dev):.2f}' if dev else '-'} | "
              f"{len(test)} | {f'{statistics.mean(best):.0f}' if best else '-'} | {statistics.mean(minutes):.0f} |")
    for variant in NAMES:
        for p in sorted((out / variant).glob("seed*/test.json")):
            print(f"<!-- {variant} {p.parent.name}: test F1 {json.loads(p.read_text())['overall']['f1']:.2f} -->")


def sweep(commands: list, scheduler: str, workers: int) -> int:
    """Run the commands on Dask (see the module's notes); the number that failed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's nertag
    from nertag.cluster import connect, run_commands

    def progress(result, done, total):
        state = "done" if result.returncode == 0 else f"FAILED ({result.error})"
        print(f"[{done}/{total}] {result.seconds / 60:.1f} min {state}: {result.command}", file=sys.stderr)

    with connect(scheduler, workers) as client:
        results = run_commands(client, commands, retries=1, progress=progress)
    return sum(r.returncode != 0 for r in results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="runs/conll2003", type=Path)
    parser.add_argument("--run", metavar="SCHEDULER", help="run the commands on standard input on Dask")
    parser.add_argument("--workers", type=int, default=2, help="workers of a local cluster")
    args = parser.parse_args()
    if args.run:
        sys.exit(1 if sweep([line for line in sys.stdin.read().splitlines() if line.strip()], args.run,
                            args.workers) else 0)
    main(args.out)
