#!/usr/bin/env python3
"""Raw text in, entities out: how much the tokeniser costs, measured on detokenised CoNLL-2003.

Each sentence of a CoNLL file is detokenised with sacremoses' MosesDetokenizer (English) into one line of
raw text, remembering where every gold token landed; nertag then tokenises that line. Two figures:

- token agreement: the fraction of gold tokens whose exact character span the tokeniser reproduces;
- entity F1 of the bundled model tagging the raw lines, entities matched by character offsets against
  the gold entities (their spans carried through the detokenisation), beside the F1 of the same model on
  the gold tokens (the best the tokeniser can do).

    python scripts/bench_tokenize.py ../shared/data/conll2003/eng.testa ../shared/data/conll2003/eng.testb

sacremoses is a benchmark and test dependency only (the ``test`` extra), never needed at run time.
``--show N`` prints the first N sentences where tokens disagree (for working on the rules);
``--no-tag`` skips the model (token agreement only, a few seconds).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from nertag.data.conll import read_conll
from nertag.data.schemes import tags_to_spans
from nertag.data.text import TextLine, Token, tokenize

Offsets = list[tuple[int, int]]


# -- detokenisation --------------------------------------------------------------------------------------------
def detokenizer():
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang="en")


def detokenize(words: Sequence[str], moses) -> tuple[str, Offsets]:
    """One line of raw text from gold tokens, and the character span of each token in it.

    XML unescaping is off, so the detokeniser only removes spaces and every token is found verbatim.
    """
    text = moses.detokenize(list(words), unescape=False)
    spans, position = [], 0
    for word in words:
        while text[position].isspace():
            position += 1
        if not text.startswith(word, position):
            raise ValueError(f"token {word!r} not found at {position} of the detokenised line {text!r}")
        spans.append((position, position + len(word)))
        position += len(word)
    return text, spans


def load(path: Path, moses) -> list[tuple[list[str], list[str], str, Offsets]]:
    """(words, tags, detokenised line, token spans) of each sentence of a CoNLL file (-DOCSTART- skipped)."""
    corpus = []
    for sentence in read_conll(path):
        text, spans = detokenize(sentence.words, moses)
        corpus.append((sentence.words, sentence.tags, text, spans))
    return corpus


# -- scores ----------------------------------------------------------------------------------------------------
def agreement(gold: Iterable[Offsets], predicted: Iterable[Sequence[Token]]) -> tuple[int, int]:
    """(gold tokens whose span is reproduced, gold tokens)."""
    hits = total = 0
    for spans, tokens in zip(gold, predicted):
        found = {(t.start, t.end) for t in tokens}
        hits += sum(span in found for span in spans)
        total += len(spans)
    return hits, total


def char_entities(tags: Sequence[str], spans: Offsets) -> set[tuple[int, int, str]]:
    """Entities of a tag sequence as (first character, end character, type)."""
    return {(spans[first][0], spans[stop - 1][1], type_) for first, stop, type_ in tags_to_spans(tags)}


def f1(gold: Sequence[set], predicted: Sequence[set]) -> float:
    """Micro-averaged F1 of per-sentence entity sets."""
    correct = sum(len(g & p) for g, p in zip(gold, predicted))
    n_gold, n_predicted = sum(map(len, gold)), sum(map(len, predicted))
    if correct == 0:
        return 0.0
    precision, recall = correct / n_predicted, correct / n_gold
    return 2 * precision * recall / (precision + recall)


def tag_f1(tagger, corpus, tokenized: Sequence[Sequence[Token]]) -> tuple[float, float]:
    """Entity F1 (%) of the tagger on the gold tokens and on the raw lines, by character offsets."""
    gold = [char_entities(tags, spans) for _, tags, _, spans in corpus]
    on_gold = [
        {(spans[e.token_start][0], spans[e.token_end - 1][1], e.type) for e in tagged.entities}
        for (_, _, _, spans), tagged in zip(corpus, tagger.tag_sentences([words for words, *_ in corpus],
                                                                         confidence=False))
    ]
    lines = [TextLine(text, list(tokens), 0) for (_, _, text, _), tokens in zip(corpus, tokenized)]
    on_raw = [{(e.start, e.end, e.type) for e in tagged.entities}
              for tagged in tagger.tag_sentences(lines, confidence=False)]
    return 100 * f1(gold, on_gold), 100 * f1(gold, on_raw)


def show_disagreements(corpus, tokenized, limit: int) -> None:
    shown = 0
    for (words, _, text, spans), tokens in zip(corpus, tokenized):
        if shown >= limit:
            return
        found = {(t.start, t.end) for t in tokens}
        if all(span in found for span in spans):
            continue
        gold_set = set(spans)
        print(f"  {text}")
        print(f"    gold:   {' '.join(w if s in found else f'[{w}]' for w, s in zip(words, spans))}")
        print(f"    nertag: {' '.join(t.text if (t.start, t.end) in gold_set else f'[{t.text}]' for t in tokens)}")
        shown += 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("conll", nargs="+", type=Path, help="CoNLL-2003 files (eng.testa, eng.testb)")
    parser.add_argument("--tokenizer", default="ptb", help="nertag tokeniser to measure (default ptb)")
    parser.add_argument("--model", type=Path, help="model directory (default: the bundled model)")
    parser.add_argument("--no-tag", action="store_true", help="token agreement only")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print N sentences that disagree")
    args = parser.parse_args(argv)

    moses = detokenizer()
    tagger = None
    if not args.no_tag:
        from nertag.model_dir import bundled_model
        from nertag.tagger import Tagger

        model = args.model or bundled_model()
        tagger = Tagger.load(model)
        print(f"model {model}")
    print(f"{'file':<10} {'sentences':>9} {'tokens':>7} {'agree %':>8} {'tok/s':>8}"
          + ("" if tagger is None else f" {'F1 gold tok':>11} {'F1 raw':>7} {'lost':>6}"))
    for path in args.conll:
        corpus = load(path, moses)
        started = time.perf_counter()
        tokenized = [tokenize(text, args.tokenizer) for _, _, text, _ in corpus]
        seconds = time.perf_counter() - started
        hits, total = agreement((spans for *_, spans in corpus), tokenized)
        row = f"{path.name:<10} {len(corpus):>9} {total:>7} {100 * hits / total:>8.2f} {total / seconds:>8.0f}"
        if tagger is not None:
            gold_f1, raw_f1 = tag_f1(tagger, corpus, tokenized)
            row += f" {gold_f1:>11.2f} {raw_f1:>7.2f} {gold_f1 - raw_f1:>6.2f}"
        print(row, flush=True)
        show_disagreements(corpus, tokenized, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
