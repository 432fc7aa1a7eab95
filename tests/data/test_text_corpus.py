"""The ptb tokeniser on real raw text: detokenised CoNLL-2003 (../shared/data), as scripts/bench_tokenize.py does.

The corpus is read in place and never copied into the repository (its licence forbids it).
"""
import itertools
import runpy
from pathlib import Path

import pytest

from nertag.data.text import tokenize

REPO = Path(__file__).resolve().parents[2]
SENTENCES = 1000  # a slice of eng.testa: the first documents, cricket scores and all


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("sacremoses")
    return runpy.run_path(str(REPO / "scripts" / "bench_tokenize.py"))


@pytest.fixture(scope="module")
def testa(shared_data, bench):
    from nertag.data.conll import read_conll

    moses = bench["detokenizer"]()
    sentences = itertools.islice(read_conll(shared_data / "conll2003" / "eng.testa"), SENTENCES)
    return [bench["detokenize"](s.words, moses) for s in sentences]


def test_detokenised_testa_keeps_99_percent_of_the_gold_tokens(bench, testa):
    hits, total = bench["agreement"]((spans for _, spans in testa), (tokenize(text, "ptb") for text, _ in testa))
    assert total > 14_000
    assert hits / total >= 0.99, f"{hits} of {total} gold tokens reproduced"


def test_offsets_on_real_text(testa):
    for text, _ in testa:
        tokens = tokenize(text, "ptb")
        assert all(text[t.start:t.end] == t.text for t in tokens)
        assert "".join(t.text for t in tokens) == "".join(text.split())


def test_detokenize_finds_every_token(bench):
    moses = bench["detokenizer"]()
    text, spans = bench["detokenize"](["He", "said", '"', "yes", ".", '"', "Germany", "'s"], moses)
    assert text == 'He said "yes." Germany\'s'
    assert [text[a:b] for a, b in spans] == ["He", "said", '"', "yes", ".", '"', "Germany", "'s"]
