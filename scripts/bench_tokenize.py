#!/usr/bin/env python3
"""Raw text in, entities out: how much the tokeniser costs, measured on detokenised CoNLL-2003.

Each sentence of a CoNLL file is detokenised with sacremoses' MosesDetokenizer (English) into one line of
raw text, remembering where every gold token landed; nertag then tokenises that line. Two figures:

- token agreement: the fraction of gold tokens whose exact character span the tokeniser reproduces;
- entity F1 of the bundled model tagging the raw lines, entities matched by character offsets against
  the gold entities (their spans carried through the detokenisation), beside the F1 of the same model on
  the gold tokens (the best the tokeniser can do).

The same again on paragraphs, for the sentence splitter: the detokenised sentences of a document are
joined by a space into paragraphs, a paragraph ending after any sentence that does not end in ``.``,
``!`` or ``?`` (give or take closing quotes: headlines, datelines and table rows stand on their own line
in real text). nertag splits each paragraph into sentences (`nertag.data.sentences`), tokenises and tags
them; boundaries are scored against the gold ones (precision and recall of the sentence starts inside
paragraphs), tokens and entities as above, by offsets into the paragraph.

    python scripts/bench_tokenize.py ../shared/data/conll2003/eng.testa ../shared/data/conll2003/eng.testb

sacremoses is a benchmark and test dependency only (the ``test`` extra), never needed at run time.
``--show N`` prints the first N sentences where tokens disagree (for working on the rules);
``--no-tag`` skips the model (token agreement only, a few seconds).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from nertag.data.conll import read_conll
from nertag.data.schemes import tags_to_spans
from nertag.data.sentences import sentence_tokens
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


def load(path: Path, moses) -> list[tuple[list[str], list[str], str, Offsets, int]]:
    """(words, tags, detokenised line, token spans, document) of each sentence of a CoNLL file."""
    corpus = []
    for sentence in read_conll(path):
        text, spans = detokenize(sentence.words, moses)
        corpus.append((sentence.words, sentence.tags, text, spans, sentence.doc))
    return corpus


_SENTENCE_END = re.compile(r"[.!?][\"')]*\Z")


def paragraphs(corpus) -> list[tuple[list[str], list[str], str, Offsets, list[int]]]:
    """Sentences joined into paragraphs (see the module docstring): (words, tags, text, token spans, the
    character offset where each sentence starts)."""
    groups: list[list] = []
    for i, unit in enumerate(corpus):
        previous = corpus[i - 1] if i else None
        if previous is None or previous[4] != unit[4] or not _SENTENCE_END.search(previous[2]):
            groups.append([])
        groups[-1].append(unit)
    result = []
    for group in groups:
        words, tags, spans, starts, position = [], [], [], [], 0
        for w, t, text, sp, _ in group:
            starts.append(position)
            words += w
            tags += t
            spans += [(a + position, b + position) for a, b in sp]
            position += len(text) + 1
        result.append((words, tags, " ".join(text for _, _, text, _, _ in group), spans, starts))
    return result


# -- scores ----------------------------------------------------------------------------------------------------
def agreement(gold: Iterable[Offsets], predicted: Iterable[Sequence[Token]]) -> tuple[int, int]:
    """(gold tokens whose span is reproduced, gold tokens)."""
    hits = total = 0
    for spans, tokens in zip(gold, predicted):
        found = {(t.start, t.end) for t in tokens}
        hits += sum(span in found for span in spans)
        total += len(spans)
    return hits, total


def boundaries(gold: Iterable[list[int]], predicted: Iterable[list[int]]) -> tuple[float, float]:
    """Precision and recall (%) of the sentence starts inside paragraphs (offset 0 not counted)."""
    correct = n_gold = n_predicted = 0
    for g, p in zip(gold, predicted):
        g, p = set(g) - {0}, set(p) - {0}
        correct += len(g & p)
        n_gold += len(g)
        n_predicted += len(p)
    return 100 * correct / max(n_predicted, 1), 100 * correct / max(n_gold, 1)


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


def tag_f1(tagger, corpus, tokenized: Sequence[Sequence[Sequence[Token]]]) -> tuple[float, float]:
    """Entity F1 (%) of the tagger on the gold tokens and on the raw text, by character offsets.

    Each unit of `corpus` (a sentence or a paragraph) is tagged on its gold tokens as one sentence, and
    on its raw text as the sentences of `tokenized` (token offsets into the unit's text).
    """
    gold = [char_entities(tags, spans) for _, tags, _, spans, *_ in corpus]
    on_gold = [
        {(spans[e.token_start][0], spans[e.token_end - 1][1], e.type) for e in tagged.entities}
        for (_, _, _, spans, *_), tagged in zip(corpus, tagger.tag_sentences([words for words, *_ in corpus],
                                                                             confidence=False))
    ]
    lines = [TextLine(unit[2], list(tokens), 0) for unit, sentences in zip(corpus, tokenized) for tokens in sentences]
    tagged = iter(tagger.tag_sentences(lines, confidence=False))
    on_raw = [{(e.start, e.end, e.type) for _ in sentences for e in next(tagged).entities} for sentences in tokenized]
    return 100 * f1(gold, on_gold), 100 * f1(gold, on_raw)


def show_disagreements(corpus, tokenized, limit: int) -> None:
    shown = 0
    for (words, _, text, spans, *_), tokens in zip(corpus, tokenized):
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


def paragraph_row(path: Path, units, mode: str, tagger, gold_f1: float | None) -> str:
    """One row of the paragraph table: split, tokenise and (with a tagger) tag each paragraph.

    The baseline `gold_f1` is that of the gold tokens tagged in gold sentences, the sentence table's.
    """
    split = [sentence_tokens(text, mode) for _, _, text, _, _ in units]
    precision, recall = boundaries((starts for *_, starts in units),
                                   ([s[0].start for s in sentences] for sentences in split))
    hits, total = agreement((spans for _, _, _, spans, _ in units), ([t for s in ss for t in s] for ss in split))
    row = f"{path.name:<10} {len(units):>10} {precision:>9.2f} {recall:>9.2f} {100 * hits / total:>8.2f}"
    if tagger is not None:
        raw_f1 = tag_f1(tagger, units, split)[1]
        row += f" {gold_f1:>11.2f} {raw_f1:>7.2f} {gold_f1 - raw_f1:>6.2f}"
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("conll", nargs="+", type=Path, help="CoNLL-2003 files (eng.testa, eng.testb)")
    parser.add_argument("--tokenizer", default="ptb", help="nertag tokeniser to measure (default ptb)")
    parser.add_argument("--model", type=Path, help="model directory (default: the bundled model)")
    parser.add_argument("--no-tag", action="store_true", help="token agreement only")
    parser.add_argument("--no-paragraphs", action="store_true", help="skip the sentence splitter")
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
    paragraph_rows = []
    header = f"{'file':<10} {'sentences':>9} {'tokens':>7} {'agree %':>8} {'tok/s':>8}"
    scores = "" if tagger is None else f" {'F1 gold tok':>11} {'F1 raw':>7} {'lost':>6}"
    print(header + scores)
    for path in args.conll:
        corpus = load(path, moses)
        started = time.perf_counter()
        tokenized = [tokenize(text, args.tokenizer) for _, _, text, *_ in corpus]
        seconds = time.perf_counter() - started
        hits, total = agreement((spans for _, _, _, spans, _ in corpus), tokenized)
        row = f"{path.name:<10} {len(corpus):>9} {total:>7} {100 * hits / total:>8.2f} {total / seconds:>8.0f}"
        if tagger is not None:
            gold_f1, raw_f1 = tag_f1(tagger, corpus, [[tokens] for tokens in tokenized])
            row += f" {gold_f1:>11.2f} {raw_f1:>7.2f} {gold_f1 - raw_f1:>6.2f}"
        print(row, flush=True)
        show_disagreements(corpus, tokenized, args.show)
        if not args.no_paragraphs:
            paragraph_rows.append(paragraph_row(path, paragraphs(corpus), args.tokenizer, tagger,
                                                None if tagger is None else gold_f1))
    if paragraph_rows:
        print(f"\nparagraphs (sentences split by nertag)\n{'file':<10} {'paragraphs':>10} {'split P %':>9} "
              f"{'split R %':>9} {'agree %':>8}" + scores)
        print("\n".join(paragraph_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
