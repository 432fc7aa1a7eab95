"""The real corpora of ../shared/data: statistics reproduced exactly, schemes round-trip, the WikiGold split.

Nothing of CoNLL-2003 is copied here: the tests read the shared files and compare counts.
"""
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from nertag.data.conll import load_conll
from nertag.data.schemes import convert, detect_scheme, tags_to_spans
from nertag.data.stats import corpus_stats

REPO = Path(__file__).resolve().parents[2]

# From ../shared/data/README.md: (docs, sentences, tokens, entities per type); None where not stated.
EXPECTED = {
    "conll2003/eng.train": (946, 14041, 203621, {"PER": 6600, "LOC": 7140, "ORG": 6321, "MISC": 3438}),
    "conll2003/eng.testa": (216, 3250, 51362, {"PER": 1842, "LOC": 1837, "ORG": 1341, "MISC": 922}),
    "conll2003/eng.testb": (231, 3453, 46435, {"PER": 1617, "LOC": 1668, "ORG": 1661, "MISC": 702}),
    "wikigold/wikigold.conll.txt": (145, 1696, 39007, {"LOC": 1014, "PER": 934, "ORG": 898, "MISC": 712}),
    "wnut17/wnut17train.conll": (None, 3394, 62730, 1975),
    "wnut17/emerging.dev.conll": (None, 1009, 15733, 836),
    "wnut17/emerging.test.annotated": (None, 1287, 23394, 1079),
}
SCHEME = {"conll2003": "IOB1", "wikigold": "IOB1", "wnut17": "IOB2"}
SCHEMES = ("IOB1", "IOB2", "BIOES")

_cache = {}


def corpus(shared_data, name):
    if name not in _cache:
        _cache[name] = load_conll(shared_data / name, scheme=SCHEME[name.split("/")[0]])
    return _cache[name]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_reader_reproduces_the_published_statistics(shared_data, name):
    docs, sentences, tokens, entities = EXPECTED[name]
    stats = corpus_stats(corpus(shared_data, name))
    assert (stats.sentences, stats.tokens) == (sentences, tokens)
    if docs is not None:
        assert stats.docs == docs
    if isinstance(entities, dict):
        assert stats.entities == entities
    else:
        assert stats.n_entities == entities


@pytest.mark.parametrize("name", list(EXPECTED))
def test_detected_scheme(shared_data, name):
    assert detect_scheme(s.tags for s in corpus(shared_data, name)) == SCHEME[name.split("/")[0]]


@pytest.mark.parametrize("name", ["conll2003/eng.testb", "wikigold/wikigold.conll.txt", "wnut17/emerging.dev.conll"])
def test_spans_agree_with_seqeval(shared_data, name):
    for s in corpus(shared_data, name):
        ours = tags_to_spans(s.tags)
        theirs = [(start, end + 1, typ) for typ, start, end in get_entities(s.tags)]
        assert ours == sorted(theirs), s.line


# Line numbers (not text) of the two tokens of eng.train that begin an entity with B- after O: IOB1 only
# uses B- between two entities of a type, so written back canonically they become I-.
NON_CANONICAL = {"conll2003/eng.train": [152428, 175436]}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_scheme_conversions_round_trip(shared_data, name):
    source = SCHEME[name.split("/")[0]]
    changed = []
    for s in corpus(shared_data, name):
        spans = tags_to_spans(s.tags, source)
        for target in SCHEMES:
            converted = convert(s.tags, source, target)
            assert tags_to_spans(converted, target) == spans
            for other in SCHEMES:
                assert convert(convert(converted, target, other), other, target) == converted
        back = convert(convert(s.tags, source, "BIOES"), "BIOES", source)
        changed += [s.line + i for i, (a, b) in enumerate(zip(s.tags, back)) if a != b]
    assert changed == NON_CANONICAL.get(name, [])


def test_wikigold_split_is_a_partition_of_whole_documents(shared_data):
    original = corpus(shared_data, "wikigold/wikigold.conll.txt")
    parts = {p: load_conll(REPO / "data" / "wikigold" / f"{p}.conll", scheme="IOB1") for p in ("train", "dev", "test")}
    stats = {p: corpus_stats(s) for p, s in parts.items()}
    assert {p: (st.docs, st.sentences, st.tokens, st.n_entities) for p, st in stats.items()} == {
        "train": (117, 1330, 31251, 2746),
        "dev": (9, 148, 3482, 372),
        "test": (19, 218, 4274, 440),
    }
    joined = [(s.words, s.tags) for p in ("train", "dev", "test") for s in parts[p]]
    assert joined == [(s.words, s.tags) for s in original]
    assert (REPO / "data" / "wikigold" / "LICENSE").read_text() == (shared_data / "wikigold" / "LICENSE").read_text()


def test_wikigold_split_script_is_reproducible(shared_data, tmp_path):
    import runpy

    script = runpy.run_path(str(REPO / "scripts" / "split_wikigold.py"))
    script["main"](shared_data / "wikigold", tmp_path)
    for part in ("train", "dev", "test"):
        assert (tmp_path / f"{part}.conll").read_bytes() == (REPO / "data" / "wikigold" / f"{part}.conll").read_bytes()
