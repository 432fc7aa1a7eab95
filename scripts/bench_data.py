"""Benchmark of the data layer (not a test): CoNLL reading, encoding and batching rates in tokens/s.

    python scripts/bench_data.py [../shared/data/conll2003/eng.train]
"""
import sys
import time

import numpy as np

from nertag.data import Vocab, encode_sentences, load_conll, make_batches


def main(path: str) -> None:
    start = time.perf_counter()
    sentences = load_conll(path)
    read = time.perf_counter() - start
    n = sum(len(s) for s in sentences)
    words = Vocab.build(s.words for s in sentences)
    chars = Vocab.build(w for s in sentences for w in s.words)
    start = time.perf_counter()
    encoded = encode_sentences(sentences, words, chars)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    batched = sum(b.n_tokens for b in make_batches(encoded, 10, rng=np.random.default_rng(0)))
    batch = time.perf_counter() - start
    assert batched == n
    print(f"{path}: {len(sentences)} sentences, {n} tokens")
    print(f"read {n / read:,.0f} tok/s  encode {n / encode:,.0f} tok/s  batch(B=10) {n / batch:,.0f} tok/s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/conll2003/eng.train")
