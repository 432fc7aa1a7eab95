"""Summarise the runs of reproduce_conll2003.sh as the README's table: test F1 mean +- std per variant."""
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
         "random_wide_avg": "nertag char-BiGRU + random 100d, BiGRU-CRF, 200 + 200 units, averaged weights"}


def main(out: Path) -> None:
    print("| model | test F1 (mean +- std) | dev F1 | seeds | best epoch | minutes per run |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in NAMES:
        runs = sorted((out / variant).glob("seed*/test.json"))
        if not runs:
            continue
        test = [json.loads(p.read_text())["overall"]["f1"] for p in runs]
        metas = [json.loads((p.parent / "model" / "meta.json").read_text()) for p in runs]
        dev = [m["scores"]["dev"]["f1"] for m in metas]
        minutes = [sum(int(s) for s in (p.parent / "seconds").read_text().split()) / 60 for p in runs]
        std = statistics.stdev(test) if len(test) > 1 else 0.0
        print(f"| {NAMES[variant]} | {statistics.mean(test):.2f} +- {std:.2f} | {statistics.mean(dev):.2f} | "
              f"{len(test)} | {statistics.mean(m['best_epoch'] for m in metas):.0f} | {statistics.mean(minutes):.0f} |")
    for variant in NAMES:
        for p in sorted((out / variant).glob("seed*/test.json")):
            print(f"<!-- {variant} {p.parent.name}: test F1 {json.loads(p.read_text())['overall']['f1']:.2f} -->")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/conll2003"))
