"""The Python API under the CLI: `Tagger` and `entity_scores` (issue 6)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

from nertag.config import Config
from nertag.data.batches import encode_tokens, pad
from nertag.data.conll import Sentence, load_conll
from nertag.data.schemes import convert, tags_to_spans
from nertag.data.text import TextLine, Token, tokenize
from nertag.errors import NertagError
from nertag.evaluate import entity_scores
from nertag.model_dir import ModelDir
from nertag.tagger import Tagger
from nertag.train import build_tagger

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Tagger:
    """Tags every token B-LOC (IOB2 training data, BIOES learned, max_length 8), saved and loaded back."""
    sentences = [Sentence(["Paris", "is", "big"], ["B-LOC", "O", "O"], [["Paris", "B-LOC"], ["is", "O"], ["big", "O"]])]
    new = build_tagger(Config(hidden=3, char_dim=2, char_hidden=2, word_dim=3, max_length=8), sentences,
                       log=lambda _: None)
    new.net.project.p["W"][...] = 0
    new.net.project.p["b"][new.tags.index("S-LOC")] = 40.0
    directory = tmp_path_factory.mktemp("tagger") / "model"
    ModelDir(directory).save(new)
    return Tagger.load(directory)


def test_tag_tokens_text_and_many_sentences(tagger):
    assert tagger.output_scheme == "IOB2"
    assert tagger.tag(["Rome", "and", "Oslo"]) == ["B-LOC", "B-LOC", "B-LOC"]
    entities = tagger.tag_text("Rome, Oslo", tokenizer="rules")
    assert [(e.text, e.start, e.end, e.token_start, e.token_end) for e in entities] == [
        ("Rome", 0, 4, 0, 1), (",", 4, 5, 1, 2), ("Oslo", 6, 10, 2, 3)]
    assert all(e.type == "LOC" and 0.99 < e.confidence <= 1 for e in entities)
    tagged = list(tagger.tag_sentences([["a"], [], ["b", "c"]], batch_size=2, scheme="bioes"))
    assert [t.tags for t in tagged] == [["S-LOC"], [], ["S-LOC", "S-LOC"]]
    assert [e.start for e in tagged[2].entities] == [None, None]  # no offsets without text


def test_tag_sentences_takes_what_the_readers_give(tagger):
    """Lines of text (entities get character offsets) and CoNLL sentences tag as their token lists do."""
    text = TextLine("Rome  is", [Token("Rome", 0, 4), Token("is", 6, 8)], 3)
    conll = Sentence(["Rome", "is"], None, [["Rome", "x"], ["is", "y"]], line=5)
    from_text, from_conll, from_tokens = tagger.tag_sentences([text, conll, ["Rome", "is"]])
    assert from_text.tags == from_conll.tags == from_tokens.tags == ["B-LOC", "B-LOC"]
    assert [(e.start, e.end) for e in from_text.entities] == [(0, 4), (6, 8)]
    assert [e.start for e in from_conll.entities + from_tokens.entities] == [None] * 4
    long_text, = tagger.tag_sentences([TextLine("w " * 9, [Token("w", 2 * i, 2 * i + 1) for i in range(9)], 4)])
    assert [(e.token_start, e.start) for e in long_text.entities] == [(i, 2 * i) for i in range(9)]  # offsets kept


def test_tag_sentences_streams(tagger):
    """Results of a window come out before later sentences are read."""
    def sentences():
        yield ["one"]
        yield ["two"]
        raise RuntimeError("read too far")

    results = tagger.tag_sentences(sentences(), batch_size=1, window=2)
    assert next(results).words == ["one"] and next(results).words == ["two"]
    with pytest.raises(RuntimeError):
        next(results)


@pytest.fixture(scope="module")
def wikigold() -> Tagger:
    """The bundled WikiGold model: real weights, so that tags and confidences vary."""
    return Tagger.load(Path(__file__).resolve().parents[1] / "nertag" / "models" / "wikigold")


@pytest.fixture(scope="module")
def fixture_sentences() -> list[Sentence]:
    return load_conll(FIXTURES / "wikigold_train100.conll") + load_conll(FIXTURES / "wikigold_dev30.conll")


def test_sorted_windows_tag_as_one_sentence_at_a_time(wikigold, fixture_sentences):
    """Sorting by length within windows changes neither tags nor confidences (beyond float rounding)."""
    sentences = fixture_sentences + [Sentence([], None, [])]  # and an empty one, in the middle of a window
    alone = list(wikigold.tag_sentences(sentences, batch_size=1, window=1))
    for batch_size, window in [(64, 1024), (8, 50), (3, 3)]:
        sorted_ = list(wikigold.tag_sentences(sentences, batch_size=batch_size, window=window))
        assert [t.words for t in sorted_] == [list(s.words) for s in sentences]  # input order
        assert [t.tags for t in sorted_] == [t.tags for t in alone]
        assert [(e.text, e.token_start) for t in sorted_ for e in t.entities] == [
            (e.text, e.token_start) for t in alone for e in t.entities]
        np.testing.assert_allclose([e.confidence for t in sorted_ for e in t.entities],
                                   [e.confidence for t in alone for e in t.entities], rtol=0, atol=1e-5)
    assert sum(len(t.entities) for t in alone) > 50 and len({round(e.confidence, 3) for t in alone
                                                             for e in t.entities}) > 10


def reference_tagging(tagger: Tagger, sentences, scheme: str) -> list[tuple[list[str], list[tuple]]]:
    """Tags and (start, end, type, confidence) entities, one sentence at a time through the per-sentence
    functions: each tag sequence read by tags_to_spans and written by convert, as strings."""
    results = []
    for sentence in sentences:
        words = list(sentence.words)
        if not words:
            results.append(([], []))
            continue
        batch = pad([encode_tokens(words, tagger.words, tagger.chars)])
        paths, E = tagger.net.decode(batch)
        learned = tagger.tags.decode(paths[:len(words), 0])
        spans = tags_to_spans(learned, tagger.config.scheme)
        rows = np.array([(0, start, end) for start, end, _ in spans], dtype=np.int64).reshape(-1, 3)
        confidences = tagger.net.crf.span_confidence(E, batch.lengths, paths, rows).tolist() if spans else []
        results.append((convert(learned, tagger.config.scheme, scheme),
                        [(*span, c) for span, c in zip(spans, confidences)]))
    return results


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIOES"])
def test_batched_tagging_equals_the_reference_path(wikigold, fixture_sentences, scheme):
    """Windows sorted by length, batches read and written as arrays: the reference's tags and confidences."""
    sentences = fixture_sentences[:60] + [Sentence([], None, [])] + fixture_sentences[60:]
    expected = reference_tagging(wikigold, sentences, scheme)
    for batch_size, window in [(64, 1024), (5, 17)]:
        found = list(wikigold.tag_sentences(sentences, batch_size=batch_size, window=window, scheme=scheme))
        assert [t.tags for t in found] == [tags for tags, _ in expected]
        assert [[(e.token_start, e.token_end, e.type) for e in t.entities] for t in found] == [
            [span[:3] for span in entities] for _, entities in expected]
        assert all(e.text == " ".join(t.words[e.token_start:e.token_end]) for t in found for e in t.entities)
        np.testing.assert_allclose([e.confidence for t in found for e in t.entities],
                                   [span[3] for _, entities in expected for span in entities], rtol=0, atol=1e-5)


def test_confidence_only_when_asked(wikigold, fixture_sentences, monkeypatch):
    with_ = list(wikigold.tag_sentences(fixture_sentences))
    calls = []
    monkeypatch.setattr(type(wikigold.net.crf), "span_confidence", lambda *a, **k: calls.append(1))
    without = list(wikigold.tag_sentences(fixture_sentences, confidence=False))
    assert [t.tags for t in without] == [t.tags for t in with_] and not calls
    assert {e.confidence for t in without for e in t.entities} == {None}
    assert all(0 < e.confidence <= 1 for t in with_ for e in t.entities)
    _, predicted = wikigold.evaluate(fixture_sentences, "IOB1")  # dev evaluation: no confidences either
    assert not calls and predicted == [t.tags for t in wikigold.tag_sentences(fixture_sentences, scheme="IOB1",
                                                                               confidence=False)]


def test_jobs_tag_as_one_process(wikigold, fixture_sentences):
    """Two worker processes: the same results, in input order, with more windows than may be in flight."""
    from nertag.parallel import WorkerPool

    one = list(wikigold.tag_sentences(fixture_sentences, batch_size=4, window=7))
    two = list(wikigold.tag_sentences(fixture_sentences, batch_size=4, window=7, jobs=2))
    assert two == one
    windows = [[list(s.words) for s in fixture_sentences[i:i + 40]] for i in range(0, 130, 40)]
    with WorkerPool(wikigold, 2, start_method="spawn") as pool:  # the start when other threads run
        assert [t for w in pool.map(windows, "IOB1", 2, True) for t in w] == list(
            wikigold.tag_sentences(fixture_sentences, batch_size=2, window=40, scheme="IOB1"))
    long_ = Sentence(["w"] * 2500, None, [["w"]] * 2500, line=12)  # three pieces, joined again
    mixed = fixture_sentences[:20] + [long_] + fixture_sentences[20:30]
    two = list(wikigold.tag_sentences(mixed, window=7, jobs=2))
    assert two == list(wikigold.tag_sentences(mixed, window=7)) and len(two[20].tags) == 2500


@pytest.mark.parametrize("output_format", ["jsonl", "conll"])
def test_workers_render_as_the_parent_does(wikigold, fixture_sentences, output_format):
    """``render``: lines of text (with offsets) and blank lines come back as the text the parent would write."""
    import functools

    from nertag.formats import Layout, format_tagged
    from nertag.parallel import WorkerPool

    lines = [" ".join(s.words) for s in fixture_sentences[:50]]
    lines[3] = lines[20] = ""
    records = [TextLine(text, tokenize(text, "rules"), i + 1) for i, text in enumerate(lines)]
    windows = [records[i:i + 12] for i in range(0, len(records), 12)]
    render = functools.partial(format_tagged, output_format=output_format, layout=Layout())
    expected = ["".join(map(render, w, wikigold._tag_window(wikigold._prepare(w, "x"), "IOB1", 4, True)))
                for w in windows]
    assert list(wikigold.tag_windows(windows, 4, scheme="IOB1", render=render)) == expected
    assert list(wikigold.tag_windows(windows, 4, scheme="IOB1", jobs=2, render=render)) == expected
    with WorkerPool(wikigold, 2, start_method="spawn") as pool:
        assert list(pool.map(windows + [[]], "IOB1", 4, True, render=render)) == expected + [""]


def test_read_ahead_cuts_windows_where_the_input_pauses():
    import threading

    from nertag.parallel import read_ahead

    assert list(read_ahead(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    go = threading.Event()

    def slow():
        yield from (1, 2)
        go.wait(10)  # the input pauses until the consumer has seen what came before
        yield 3
        raise ValueError("bad line")

    windows = read_ahead(slow(), 100, pause=0.05)
    assert next(windows) == [1, 2] and next(windows) == []  # the two that came, then "idle"
    go.set()
    assert next(windows) == [3]
    with pytest.raises(ValueError, match="bad line"):
        next(windows)

    read = []

    def counted():
        for i in range(100):
            read.append(i)
            yield i

    windows = read_ahead(counted(), 5)
    assert next(windows) == [0, 1, 2, 3, 4]
    time.sleep(0.2)
    assert len(read) <= 5 + 5 + 1  # the reader holds one window more, and the item it waits to hand over
    assert [i for w in windows for i in w] == list(range(5, 100))


def test_long_sentences_in_pieces_and_bad_scheme(tagger):
    """max_length 8: 19 tokens are tagged as pieces of 8, 8 and 3, entities shifted to the whole sentence."""
    words = [f"w{i}" for i in range(19)]
    whole, = tagger.tag_sentences([words])
    pieces = [words[:8], words[8:16], words[16:]]
    assert whole.tags == [t for piece in pieces for t in tagger.tag(piece)] and whole.words == words
    shifted = [(e.token_start + b, e.token_end + b, e.type) for piece, b in zip(pieces, (0, 8, 16))
               for e in next(tagger.tag_sentences([piece])).entities]
    assert [(e.token_start, e.token_end, e.type) for e in whole.entities] == shifted
    with pytest.raises(NertagError, match="unknown tag scheme 'bilou'"):
        list(tagger.tag_sentences([["a"]], scheme="bilou"))


def test_evaluate_returns_scores_and_predictions_in_the_gold_scheme(tagger):
    gold = [Sentence(["Rome", "is"], ["I-LOC", "O"], [["Rome", "I-LOC"], ["is", "O"]])]
    scores, predicted = tagger.evaluate(gold, "IOB1")
    assert predicted == [["I-LOC", "B-LOC"]]
    assert scores == entity_scores([["I-LOC", "O"]], predicted, "IOB1")
    assert (scores["overall"]["precision"], scores["overall"]["recall"]) == (50.0, 100.0)


# -- entity_scores ---------------------------------------------------------------------------------------------------
def test_conlleval_compatible_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-MISC"]]
    scores = entity_scores(gold, predicted, "IOB2")
    # gold: PER, LOC, ORG; predicted: PER, ORG (wrong place), ORG, MISC -> 2 of 4 right, 2 of 3 found
    assert scores["overall"] == {"precision": 50.0, "recall": pytest.approx(200 / 3), "f1": pytest.approx(400 / 7),
                                 "support": 3}
    assert scores["types"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["types"]["ORG"]["precision"] == 50.0 and scores["types"]["MISC"]["support"] == 0


@pytest.mark.parametrize("scheme, gold, predicted, loose_f1, strict_f1", [
    ("IOB2", [["O", "I-PER", "I-PER"]], [["O", "I-PER", "I-PER"]], 100.0, 0.0),  # I- after O: no entity in IOB2
    ("IOB2", [["B-PER", "I-PER"]], [["I-PER", "I-PER"]], 100.0, 0.0),
    ("BIOES", [["B-PER", "E-PER"]], [["B-PER", "I-PER"]], 100.0, 0.0),  # B- without its E-
    ("IOB1", [["I-PER", "B-PER"]], [["I-PER", "B-PER"]], 100.0, 100.0),  # well formed IOB1
    ("IOB1", [["I-PER", "I-LOC", "O"]], [["I-PER", "I-LOC", "O"]], 100.0, 100.0),
])
def test_strict_scores_only_well_formed_chunks(scheme, gold, predicted, loose_f1, strict_f1):
    assert entity_scores(gold, predicted, scheme)["overall"]["f1"] == loose_f1
    strict = entity_scores(gold, predicted, scheme, strict=True)
    assert strict["overall"]["f1"] == strict_f1 and strict["mode"] == f"strict {scheme}"


def test_scores_against_a_brute_force_count():
    """conlleval mode equals counting exact (start, end, type) spans, on real WikiGold tags with noise."""
    from nertag.data.schemes import tags_to_spans
    rng = np.random.default_rng(0)
    gold = [s.tags for s in load_conll(FIXTURES / "wikigold_dev30.conll")]
    tags = ["O", "I-PER", "I-LOC", "B-LOC", "I-ORG", "I-MISC"]
    predicted = [[t if rng.random() < 0.7 else tags[rng.integers(len(tags))] for t in s] for s in gold]
    g = {(i, *span) for i, s in enumerate(gold) for span in tags_to_spans(s, "IOB1")}
    p = {(i, *span) for i, s in enumerate(predicted) for span in tags_to_spans(s, "IOB1")}
    overall = entity_scores(gold, predicted, "IOB1")["overall"]
    assert overall["support"] == len(g)
    assert overall["precision"] == pytest.approx(100 * len(g & p) / len(p))
    assert overall["recall"] == pytest.approx(100 * len(g & p) / len(g))
    with pytest.raises(ValueError, match="same number of sentences and tokens"):
        entity_scores(gold, predicted[:-1], "IOB1")


def test_load_pipe_nbest_and_marginals_of_the_bundled_model():
    """nertag.load by name; pipe equals tag_text; the n-best list, taken whole for a two-token sentence,
    holds every allowed sequence (probabilities summing to 1) and adds up to the marginals."""
    import nertag

    tagger = nertag.load()
    assert tagger.meta["name"] == "conll2003-en" and nertag.load("wikigold").meta["name"] == "wikigold-en"
    with pytest.raises(NertagError, match="no such model directory"):
        nertag.load("no/such/dir")
    texts = ["Angela Merkel visited Paris.", "", "Apple Inc. is in Cupertino."]
    piped, one_by_one = list(tagger.pipe(texts, batch_size=2)), [tagger.tag_text(t) for t in texts]
    strip = [[dataclasses.replace(e, confidence=None) for e in entities] for entities in piped]
    assert strip == [[dataclasses.replace(e, confidence=None) for e in entities] for entities in one_by_one]
    assert np.allclose([e.confidence for es in piped for e in es], [e.confidence for es in one_by_one for e in es],
                       atol=1e-6)  # (a batch's products may round differently from one sentence's)
    words = ["Merkel", "visited"]
    learned = tagger.config.scheme
    everything = next(tagger.nbest([words], k=len(tagger.tags) ** 2, scheme=learned))
    assert abs(sum(p for _, p in everything) - 1) < 1e-4
    assert [p for _, p in everything] == sorted((p for _, p in everything), reverse=True)
    assert everything[0][0] == next(tagger.tag_sentences([words], scheme=learned)).tags  # the Viterbi path
    tags, marginals = next(tagger.marginals([words]))
    assert marginals.shape == (2, len(tags)) and np.allclose(marginals.sum(axis=1), 1, atol=1e-5)
    from_paths = np.zeros_like(marginals)
    for sequence, p in everything:
        for t, tag in enumerate(sequence):
            from_paths[t, tags.index(tag)] += p
    assert np.allclose(from_paths, marginals, atol=1e-4)
    three, empty = tagger.nbest([words, []], k=3)
    assert len(three) == 3 and three[0][0] == tagger.tag(words) and empty == [([], 1.0)]


def test_raw_lines_are_tokenised_where_tagged(wikigold, fixture_sentences):
    """Lines of raw text (`RawLine`, tokenised by whoever tags them: this process or a worker) tag as the
    tokenised lines do, and one process and two workers cut windows into the same tasks (`task_plan`)."""
    from nertag.data.text import RawLine, text_line
    from nertag.tagger import task_plan

    texts = [" ".join(s.words) for s in fixture_sentences] + ["", "Anna Berg lives in Oslo."]
    raw = [RawLine(t, i + 1, "ptb") for i, t in enumerate(texts)]
    tokenised = [text_line(t, "ptb", False, i + 1) for i, t in enumerate(texts)]
    expected = [(t.tags, t.entities) for t in wikigold.tag_sentences(tokenised, batch_size=4, window=50)]
    for jobs in (1, 2):
        got = [(t.tags, t.entities) for t in wikigold.tag_sentences(raw, batch_size=4, window=50, jobs=jobs)]
        assert [tags for tags, _ in got] == [tags for tags, _ in expected]
        assert [[(e.text, e.start, e.end) for e in es] for _, es in got] == \
            [[(e.text, e.start, e.end) for e in es] for _, es in expected]
    plan = task_plan([3, 0, 5, 1, 5, 2] * 50, batch_size=64)                   # tasks of two whole batches
    assert [len(task) for task in plan] == [122, 128] and sorted(sum(plan, [])) == [
        i for i in range(300) if i % 6 != 1]                                     # the empty sentences in none
