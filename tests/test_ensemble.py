"""Ensembles: several models tagging as the product of their CRFs (nertag/ensemble.py), API and CLI."""
from pathlib import Path

import numpy as np
import pytest
from cli_results import assert_error, nertag, ok

from nertag.data.batches import pad_tokens
from nertag.data.conll import load_conll
from nertag.data.vocab import Vocab
from nertag.ensemble import Ensemble
from nertag.errors import NertagError
from nertag.net.constraints import apply_constraints
from nertag.net.crf import viterbi
from nertag.tagger import Tagger

MODELS = Path(__file__).resolve().parents[1] / "nertag" / "models"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def conll():
    return Tagger.load(MODELS / "conll2003")


@pytest.fixture(scope="module")
def wikigold():
    return Tagger.load(MODELS / "wikigold")


@pytest.fixture(scope="module")
def sentences():
    return [s.words for s in load_conll(FIXTURES / "wikigold_dev30.conll")]


def permuted(tagger: Tagger, seed: int = 0) -> Tagger:
    """The same model with its tags in another id order (output layer and CRF permuted alike)."""
    tags = tagger.tags.tokens
    perm = np.random.default_rng(seed).permutation(len(tags))            # new id i is old id perm[i]
    vocab = Vocab([tags[i] for i in perm], pad=None, unk=None)
    copy = Tagger(tagger.config, tagger.words, tagger.chars, vocab, tagger.meta, initialise=False)
    copy.buffer.data[...] = tagger.buffer.data
    net, old = copy.net, tagger.net
    net.project.p["W"][...] = old.project.p["W"][:, perm]
    net.project.p["b"][...] = old.project.p["b"][perm]
    net.crf.p["A"][...] = old.crf.p["A"][np.ix_(perm, perm)]
    net.crf.p["start"][...] = old.crf.p["start"][perm]
    net.crf.p["end"][...] = old.crf.p["end"][perm]
    return copy


def results(tagger, sentences):
    tagged = list(tagger.tag_sentences(sentences, batch_size=8))
    return [t.tags for t in tagged], [e.confidence for t in tagged for e in t.entities]


def test_one_model_alone_tags_as_itself(wikigold, sentences):
    tags, confidences = results(Ensemble([wikigold]), sentences)
    expected_tags, expected_confidences = results(wikigold, sentences)
    assert tags == expected_tags
    np.testing.assert_allclose(confidences, expected_confidences, rtol=0, atol=1e-6)


def test_tag_order_does_not_matter(wikigold, sentences):
    """A member whose tags have other ids is read in the first member's order: the same model twice, once
    permuted, tags as the model."""
    other = permuted(wikigold)
    assert other.tags.tokens != wikigold.tags.tokens
    assert results(other, sentences)[0] == results(wikigold, sentences)[0]
    tags, confidences = results(Ensemble([wikigold, other]), sentences)
    expected_tags, expected_confidences = results(wikigold, sentences)
    assert tags == expected_tags
    np.testing.assert_allclose(confidences, expected_confidences, rtol=0, atol=1e-5)


def test_two_models_decode_the_mean_of_their_scores(conll, wikigold, sentences):
    """The combination's tags are the Viterbi path of the mean emissions and mean transitions of the members
    (computed here from the members themselves), whichever member comes first."""
    ensemble = Ensemble([conll, wikigold])
    batch_sentences = [list(s) for s in sentences[:12]]
    members = []
    for member in (conll, wikigold):
        batch = pad_tokens(batch_sentences, member.words, member.chars)
        E, _ = member.net.emissions(batch, grad=False)
        members.append((E.astype(np.float64), member.net.crf))
    E = ((members[0][0] + members[1][0]) / 2).astype(np.float32)
    A, start, end = ((sum(crf.p[name].astype(np.float64) for _, crf in members) / 2).astype(np.float32)
                     for name in ("A", "start", "end"))
    paths, _ = viterbi(E, batch.padded, *apply_constraints(A, start, end, conll.net.crf.constraints))
    expected = [[conll.tags.tokens[i] for i in paths[:n, b]] for b, n in enumerate(batch.lengths)]
    tagged = list(ensemble.tag_sentences(batch_sentences, scheme="BIOES"))
    assert [t.tags for t in tagged] == expected
    assert [t.tags for t in Ensemble([wikigold, conll]).tag_sentences(batch_sentences, scheme="BIOES")] == expected
    confidences = [e.confidence for t in tagged for e in t.entities]
    assert confidences and all(0 < c <= 1 for c in confidences)
    # the two members disagree somewhere, and the ensemble is not simply one of them
    alone = [[t.tags for t in m.tag_sentences(batch_sentences, scheme="BIOES")] for m in (conll, wikigold)]
    assert alone[0] != alone[1]


def test_models_of_other_tags_are_refused(wikigold):
    tags = Vocab(["O", "B-PER", "I-PER"], pad=None, unk=None)
    other = Tagger(wikigold.config, wikigold.words, wikigold.chars, tags, {})
    with pytest.raises(NertagError, match=r"^b predicts the tags O, B-PER, I-PER, but a predicts O, B-LOC"):
        Ensemble([wikigold, other], ["a", "b"])
    with pytest.raises(NertagError, match="only predicts"):
        Ensemble([wikigold]).net.emissions(None, grad=True)


def test_cli_tags_and_evaluates_with_an_ensemble(conll, wikigold, sentences, tmp_path):
    text = "".join(" ".join(s) + "\n" for s in sentences)
    models = ["-m", str(MODELS / "conll2003"), "-m", str(MODELS / "wikigold")]
    out = ok(nertag("tag", *models, "--tokenizer", "whitespace", "--scheme", "bioes", input=text)).stdout
    got = [line.split()[-1] for line in out.splitlines() if line.strip()]
    expected = [t for tagged in Ensemble([conll, wikigold]).tag_sentences(sentences, scheme="BIOES")
                for t in tagged.tags]
    assert got == expected
    report = ok(nertag("eval", *models, "--data", str(FIXTURES / "wikigold_dev30.conll"))).stdout
    assert "overall" in report
    assert_error(nertag("tag", "-m", str(MODELS / "conll2003"), "-m", str(tmp_path / "missing"), input=text),
                 "no such model directory")


def test_distillation_data_adds_the_teachers_tags(wikigold):
    from nertag.distill import distillation_data

    gold = load_conll(FIXTURES / "wikigold_train100.conll")[:10]
    unlabeled = load_conll(FIXTURES / "wikigold_dev30.conll", tag_col=None)[:5]
    data = distillation_data(wikigold, gold, unlabeled, "IOB1")
    assert data[:10] == gold and len(data) == 25
    expected = [t.tags for t in wikigold.tag_sentences([s.words for s in gold + unlabeled], scheme="IOB1")]
    assert [s.tags for s in data[10:]] == expected
    assert [s.words for s in data[10:]] == [s.words for s in gold + unlabeled]
    assert [s.line for s in data[10:]] == [s.line for s in gold + unlabeled]


def test_train_distils_a_teacher_ensemble(tmp_path):
    """`nertag train --teacher A --teacher B --unlabeled FILE`: a student trained on the gold data and the
    ensemble's tags; the model card names the teacher-tagged parts."""
    import json

    student = tmp_path / "student"
    result = nertag("train", "-t", str(FIXTURES / "wikigold_train100.conll"), "--teacher", str(MODELS / "wikigold"),
                    "--teacher", str(MODELS / "conll2003"), "--unlabeled", str(FIXTURES / "wikigold_dev30.conll"),
                    "-m", str(student), "--epochs", "1", "--hidden", "4", "--word-dim", "4", "--char-dim", "0",
                    "-q")
    ok(result)
    files = json.loads((student / "meta.json").read_text())["training_data"]["files"]
    assert [f["sentences"] for f in files] == [100, 100, 30]
    assert "tags of" in files[1]["path"] and "wikigold_dev30.conll" in files[2]["path"]
    assert Tagger.load(student).tag(["John", "lives", "in", "Berlin"])
    assert_error(nertag("train", "-t", str(FIXTURES / "wikigold_train100.conll"), "--unlabeled",
                        str(FIXTURES / "wikigold_dev30.conll"), "-m", str(tmp_path / "x")), "give one")
