"""Error analysis (`nertag eval --errors`, issue 18): every gold and predicted entity counted once.

Invented sentences with literal counts for each category and kind; random tag sequences checked against the
definitions one by one; the bundled model on a WikiGold fixture and on CoNLL-2003 eng.testa, where the
counts must add up to the totals and agree with seqeval's scores.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nertag.cli import _score_table, app
from nertag.data.conll import load_conll
from nertag.data.schemes import convert, tags_to_spans
from nertag.error_analysis import CATEGORIES, Group, error_report, format_report, groups, marked
from nertag.evaluate import entity_scores, format_table
from nertag.model_dir import bundled_model
from nertag.tagger import Tagger

DEV = Path(__file__).resolve().parent / "fixtures" / "wikigold_dev30.conll"

# (gold, predicted) in IOB2, one sentence each, one case of every category and kind
CASES = {
    "correct and wrong type": ("B-PER I-PER O B-LOC", "B-PER I-PER O B-ORG"),
    "longer": ("O B-ORG I-ORG O", "B-ORG I-ORG I-ORG O"),
    "shorter": ("B-PER I-PER I-PER", "O B-PER I-PER"),
    "shifted": ("B-LOC I-LOC O", "O B-LOC I-LOC"),
    "split": ("B-ORG I-ORG I-ORG", "B-ORG B-ORG I-ORG"),
    "merged": ("B-PER B-PER", "B-PER I-PER"),
    "tangled": ("B-LOC I-LOC B-LOC I-LOC O", "O B-LOC I-LOC B-LOC I-LOC"),
    "type and boundary": ("B-ORG I-ORG I-ORG", "B-LOC I-LOC O"),
    "missed": ("O B-MISC", "O O"),
    "spurious": ("O O", "B-PER O"),
}


def invented() -> tuple[list[list[str]], list[list[str]]]:
    return [g.split() for g, _ in CASES.values()], [p.split() for _, p in CASES.values()]


def counts(report) -> dict:
    return {c: (n.gold, n.predicted) for c, n in report.categories.items()}


def assert_adds_up(report, gold: list[list[str]], predicted: list[list[str]], scheme: str) -> None:
    n_gold = sum(len(tags_to_spans(t, scheme)) for t in gold)
    n_predicted = sum(len(tags_to_spans(t, scheme)) for t in predicted)
    assert (report.gold, report.predicted) == (n_gold, n_predicted)
    assert sum(n.gold for n in report.categories.values()) == n_gold
    assert sum(n.predicted for n in report.categories.values()) == n_predicted
    for category, kinds in report.kinds.items():
        assert sum(n.gold for n in kinds.values()) == report.categories[category].gold
        assert sum(n.predicted for n in kinds.values()) == report.categories[category].predicted
    for category in CATEGORIES:  # per type, each entity once: the types' counts add up to the category's
        assert sum(t[category].gold for t in report.types.values()) == report.categories[category].gold
        assert sum(t[category].predicted for t in report.types.values()) == report.categories[category].predicted
    assert sum(report.confusions.values()) == report.categories["type"].gold


def assert_agrees_with_seqeval(report, gold, predicted, scheme: str) -> None:
    """Correct entities are seqeval's true positives; gold entities per type are its support."""
    scores = entity_scores(gold, predicted, scheme)
    assert report.gold == scores["overall"]["support"]
    assert report.categories["correct"].gold == round(scores["overall"]["recall"] * report.gold / 100)
    if report.predicted:
        assert report.categories["correct"].gold == round(scores["overall"]["precision"] * report.predicted / 100)
    for name, row in scores["types"].items():
        assert sum(n.gold for n in report.types.get(name, {}).values()) == row["support"], name


# -- invented examples ----------------------------------------------------------------------------------------
def test_every_category_and_kind_with_literal_counts():
    gold, predicted = invented()
    report = error_report(gold, predicted, "IOB2")
    assert counts(report) == {"correct": (1, 1), "type": (1, 1), "boundary": (8, 8), "type_and_boundary": (1, 1),
                              "missed": (1, 0), "spurious": (0, 1)}
    assert {k: (n.gold, n.predicted) for k, n in report.kinds["boundary"].items()} == {
        "longer": (1, 1), "shorter": (1, 1), "shifted": (1, 1), "split": (1, 2), "merged": (2, 1), "tangled": (2, 2)}
    assert {k: (n.gold, n.predicted) for k, n in report.kinds["type_and_boundary"].items()} == {"shorter": (1, 1)}
    assert (report.gold, report.predicted) == (12, 12)
    assert dict(report.confusions) == {("LOC", "ORG"): 1}
    assert (report.types["ORG"]["type"].gold, report.types["ORG"]["type"].predicted) == (0, 1)
    assert (report.types["LOC"]["type"].gold, report.types["LOC"]["type"].predicted) == (1, 0)
    assert (report.types["ORG"]["type_and_boundary"].gold, report.types["LOC"]["type_and_boundary"].predicted) \
        == (1, 1)
    assert_adds_up(report, gold, predicted, "IOB2")
    assert_agrees_with_seqeval(report, gold, predicted, "IOB2")


def test_groups_of_one_sentence():
    assert groups([(0, 2, "PER"), (3, 4, "LOC")], [(0, 2, "PER"), (3, 4, "ORG")]) == [
        Group("correct", None, ((0, 2, "PER"),), ((0, 2, "PER"),)),
        Group("type", None, ((3, 4, "LOC"),), ((3, 4, "ORG"),))]
    # a chain of overlaps is one group: gold 0-2 and 2-4, predictions 1-3 and 3-5
    assert groups([(0, 2, "X"), (2, 4, "X")], [(1, 3, "X"), (3, 5, "X")]) == [
        Group("boundary", "tangled", ((0, 2, "X"), (2, 4, "X")), ((1, 3, "X"), (3, 5, "X")))]
    # touching is not overlapping
    assert [g.category for g in groups([(0, 2, "X")], [(2, 3, "X")])] == ["missed", "spurious"]
    assert groups([], []) == []


@pytest.mark.parametrize("scheme", ["IOB1", "BIOES"])
def test_the_same_entities_in_other_schemes_give_the_same_report(scheme):
    gold, predicted = invented()
    iob2 = error_report(gold, predicted, "IOB2")
    other = error_report([convert(t, "IOB2", scheme) for t in gold], [convert(t, "IOB2", scheme) for t in predicted],
                         scheme)
    assert other.to_dict() == iob2.to_dict()


def test_random_sequences_follow_the_definitions():
    rng = random.Random(18)
    tags = ["O", "O", "O", "B-A", "I-A", "B-B", "I-B"]  # ill-formed sequences too (I after O), repaired alike
    gold = [[rng.choice(tags) for _ in range(rng.randint(0, 12))] for _ in range(400)]
    predicted = [[rng.choice(tags) for _ in g] for g in gold]
    for g, p in zip(gold, predicted):
        gs, ps = tags_to_spans(g), tags_to_spans(p)
        found = groups(gs, ps)
        assert sorted(s for x in found for s in x.gold) == gs and sorted(s for x in found for s in x.predicted) == ps

        def overlaps(a, spans):
            return [b for b in spans if a[0] < b[1] and b[0] < a[1]]

        for x in found:
            for s in x.gold:  # a group holds everything its spans overlap
                assert set(overlaps(s, ps)) <= set(x.predicted)
            for s in x.predicted:
                assert set(overlaps(s, gs)) <= set(x.gold)
            if x.category == "missed":
                assert len(x.gold) == 1 and not overlaps(x.gold[0], ps)
            elif x.category == "spurious":
                assert len(x.predicted) == 1 and not overlaps(x.predicted[0], gs)
            elif x.category in ("correct", "type"):
                (g0,), (p0,) = x.gold, x.predicted
                assert g0[:2] == p0[:2] and (g0[2] == p0[2]) == (x.category == "correct")
            else:
                assert x.gold and x.predicted and x.kind is not None
                assert (len({s[2] for s in x.gold + x.predicted}) == 1) == (x.category == "boundary")
                assert not (len(x.gold) == len(x.predicted) == 1 and x.gold[0][:2] == x.predicted[0][:2])
    report = error_report(gold, predicted, "IOB2")
    assert_adds_up(report, gold, predicted, "IOB2")
    assert_agrees_with_seqeval(report, gold, predicted, "IOB2")


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="same number of sentences and tokens"):
        error_report([["O", "B-PER"]], [["O"]], "IOB2")


# -- text ----------------------------------------------------------------------------------------------------
def test_examples_mark_the_spans_and_give_the_file_line():
    words = "Ann Lee met Bo in Rome".split()
    assert marked(words, [(0, 2, "PER"), (5, 6, "LOC")], 0, 6) == "[Ann Lee]PER met Bo in [Rome]LOC"
    assert marked(words, [(3, 4, "PER")], 2, 4) == "... met [Bo]PER ..."
    gold, predicted = ["B-PER I-PER O B-PER O B-LOC".split()], ["O B-PER O B-PER O B-ORG".split()]
    report = error_report(gold, predicted, "IOB2", words=[words], lines=[41], examples=1)
    assert [e.line for e in report.examples["boundary"]] == [41]
    text = format_report(report)
    assert "  line 41 (shorter):\n    gold  [Ann Lee]PER met Bo in Rome\n    pred  Ann [Lee]PER met Bo in Rome" \
        in text
    assert "    gold  Ann Lee met Bo in [Rome]LOC\n    pred  Ann Lee met Bo in [Rome]ORG" in text
    assert "examples, missed" not in text  # no missed entity, no heading


def column_ends(table: str) -> list[list[int]]:
    return [[m.end() for m in re.finditer(r"\S+", line)][-4:] for line in table.splitlines()]


def test_tables_stay_aligned_with_long_type_names():
    scores = {"types": {"creative-work": {"precision": 100.0, "recall": 5.5, "f1": 10.43, "support": 12345},
                        "x": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}},
              "overall": {"precision": 50.0, "recall": 2.75, "f1": 5.21, "support": 12348}}
    table = _score_table(scores)
    lines = table.splitlines()
    assert [line.split()[0] for line in lines] == ["type", "creative-work", "x", "overall"]
    assert len({len(line) for line in lines}) == 1  # right-aligned columns end together
    assert len({tuple(ends) for ends in column_ends(table)}) == 1
    assert lines[1].startswith("creative-work  ") and lines[2].startswith("x" + " " * 14)
    assert format_table(["a", "bb"], [["long name", 1], ["z", 22]]) == "a          bb\nlong name   1\nz          22"


def test_the_report_tables_stay_aligned_with_long_type_names():
    gold = [["B-creative-work", "I-creative-work", "O", "B-person"]]
    predicted = [["B-creative-work", "O", "O", "B-corporation"]]
    text = format_report(error_report(gold, predicted, "IOB2"))
    by_type = text.split("gold entities by type:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in by_type] == ["type", "creative-work", "person", "overall"]
    assert len({len(line) for line in by_type}) == 1


# -- the bundled model on real data --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load(bundled_model())


def real_report(tagger: Tagger, path: Path):
    sentences = load_conll(path)
    gold = [s.tags for s in sentences]
    scores, predicted = tagger.evaluate(sentences, "IOB1", source=str(path))
    report = error_report(gold, predicted, "IOB1", words=[s.words for s in sentences],
                          lines=[s.line for s in sentences])
    return report, scores, gold, predicted


def test_bundled_model_on_wikigold_adds_up(tagger):
    report, scores, gold, predicted = real_report(tagger, DEV)
    assert_adds_up(report, gold, predicted, "IOB1")
    assert_agrees_with_seqeval(report, gold, predicted, "IOB1")
    assert report.categories["correct"].gold > report.gold / 2


def test_bundled_model_on_conll2003_testa_adds_up(tagger, shared_data):
    path = shared_data / "conll2003" / "eng.testa"
    report, scores, gold, predicted = real_report(tagger, path)
    assert report.gold == scores["overall"]["support"] == 5942  # CoNLL-2003's dev set
    assert_adds_up(report, gold, predicted, "IOB1")
    assert_agrees_with_seqeval(report, gold, predicted, "IOB1")
    lines = path.read_text().splitlines()
    for examples in report.examples.values():  # each example's line is the sentence's first token in the file
        for e in examples:
            assert lines[e.line - 1].split()[0] == e.words[0]


# -- the command ---------------------------------------------------------------------------------------------
def nertag(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_eval_errors_text_and_json():
    text = nertag("eval", "--conll", DEV, "--errors")
    assert text.exit_code == 0, text.output
    assert "errors (every gold and predicted entity counted once):" in text.stdout
    assert "gold entities by type:" in text.stdout and "predicted entities by type:" in text.stdout
    assert re.search(r"^  line \d+", text.stdout, re.M)
    done = nertag("eval", "--conll", DEV, "--errors", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    errors = result["errors"]
    assert errors["gold"] == result["overall"]["support"]
    assert sum(c["gold"] for c in errors["categories"].values()) == errors["gold"]
    assert sum(c["predicted"] for c in errors["categories"].values()) == errors["predicted"]
    assert list(errors["categories"]) == list(CATEGORIES)
    plain = json.loads(nertag("eval", "--conll", DEV, "--json").stdout)
    assert "errors" not in plain and plain["overall"] == result["overall"]


def test_eval_errors_with_strict_is_refused():
    done = nertag("eval", "--conll", DEV, "--errors", "--strict")
    assert done.exit_code == 2
    assert done.stderr == ("nertag: error: --errors reads entities as conlleval does, not as --strict scores them;"
                           " give one\n")
