"""Split WikiGold into train/dev/test by document, deterministically, for the default demo.

    python scripts/split_wikigold.py [SOURCE_DIR] [TARGET_DIR]

SOURCE_DIR holds ``wikigold.conll.txt`` and its ``LICENSE`` (default ``../shared/data/wikigold`` beside
the repository); TARGET_DIR defaults to ``data/wikigold`` in the repository. Documents stay whole and
in file order: a document goes to train if its middle token lies in the first 80% of the corpus's
tokens, to dev if it lies in the next 10%, and to test otherwise (documents vary a lot in length, so
cutting by tokens rather than by document count gives parts of about 80/10/10 in size). Tags and
columns are copied unchanged (IOB1), with ``-DOCSTART- O`` lines between documents. Prints the counts
of each part as a Markdown table.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nertag.data.conll import Sentence, load_conll, write_conll  # noqa: E402
from nertag.data.stats import corpus_stats  # noqa: E402

PARTS = ("train", "dev", "test")
CUTS = (0.8, 0.9)  # token fractions where dev and test begin


def assign(sentences: list[Sentence]) -> dict[int, str]:
    """The part of each document, by where its middle token falls in the corpus."""
    sizes: dict[int, int] = {}
    for s in sentences:
        sizes[s.doc] = sizes.get(s.doc, 0) + len(s.words)
    total, before, parts = sum(sizes.values()), 0, {}
    for doc, size in sizes.items():  # file order
        middle = (before + size / 2) / total
        parts[doc] = PARTS[sum(middle >= cut for cut in CUTS)]
        before += size
    return parts


def split(sentences: list[Sentence]) -> dict[str, list[Sentence]]:
    """Sentences per part, renumbering documents from 0 within each part."""
    part_of = assign(sentences)
    parts: dict[str, list[Sentence]] = {part: [] for part in PARTS}
    renumber: dict[str, dict[int, int]] = {part: {} for part in PARTS}
    for s in sentences:
        part = part_of[s.doc]
        doc = renumber[part].setdefault(s.doc, len(renumber[part]))
        parts[part].append(Sentence(s.words, s.tags, s.columns, doc, s.line))
    return parts


def main(source: Path, target: Path) -> None:
    sentences = load_conll(source / "wikigold.conll.txt", scheme="IOB1")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "LICENSE", target / "LICENSE")
    print("| part | docs | sentences | tokens | LOC | MISC | ORG | PER |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for part, part_sentences in split(sentences).items():
        write_conll(part_sentences, target / f"{part}.conll", docstart="between")
        stats = corpus_stats(part_sentences)
        types = " | ".join(f"{stats.entities.get(t, 0):,}" for t in ("LOC", "MISC", "ORG", "PER"))
        print(f"| {part} | {stats.docs} | {stats.sentences:,} | {stats.tokens:,} | {types} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        Path(args[0]) if args else ROOT.parent / "shared" / "data" / "wikigold",
        Path(args[1]) if len(args) > 1 else ROOT / "data" / "wikigold",
    )
