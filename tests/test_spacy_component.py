"""The spaCy pipeline component (issue 18): ``nlp.add_pipe("nertag")``; skipped where spaCy is not installed."""
from __future__ import annotations

import importlib.metadata
import os

import pytest

spacy = pytest.importorskip("spacy")

from spacy.tokens import Span  # noqa: E402
from spacy.training import Example  # noqa: E402

from nertag.config import Config  # noqa: E402
from nertag.data.conll import Sentence  # noqa: E402
from nertag.errors import ModelError  # noqa: E402
from nertag.model_dir import ModelDir  # noqa: E402
from nertag.spacy_component import NertagComponent, make_nertag, sentence_tokens  # noqa: E402
from nertag.train import build_tagger  # noqa: E402

TEXTS = ["John lives in Berlin .", "Angela Merkel met Barack Obama in Washington .",
         "She works for Siemens in Munich .", "The European Union fined Google on Tuesday .", "", "Hello ."]


@pytest.fixture(scope="module")
def nlp():
    """A blank English pipeline with the bundled model."""
    nlp = spacy.blank("en")
    nlp.add_pipe("nertag")
    return nlp


@pytest.fixture(scope="module")
def every_word_loc(tmp_path_factory):
    """A model directory whose tagger tags every word B-LOC (IOB2 out) and cuts sentences after 8 words."""
    sentences = [Sentence(["Paris", "is", "big"], ["B-LOC", "O", "O"], [["Paris", "B-LOC"], ["is", "O"], ["big", "O"]])]
    new = build_tagger(Config(hidden=3, char_dim=2, char_hidden=2, word_dim=3, max_length=8), sentences,
                       log=lambda _: None)
    new.net.project.p["W"][...] = 0
    new.net.project.p["b"][new.tags.index("S-LOC")] = 40.0
    directory = tmp_path_factory.mktemp("spacy") / "model"
    ModelDir(directory).save(new)
    return directory


def ents(doc) -> list[tuple[str, str, int, int]]:
    return [(e.text, e.label_, e.start, e.end) for e in doc.ents]


def recorded_calls(monkeypatch, component: NertagComponent) -> list[list[list[str]]]:
    """The sentences of each call of the component's ``tag_sentences``, from now on."""
    calls, tag_sentences = [], component.tagger.tag_sentences

    def recording(sentences, *args, **kwargs):
        sentences = list(sentences)
        calls.append(sentences)
        return tag_sentences(sentences, *args, **kwargs)

    monkeypatch.setattr(component.tagger, "tag_sentences", recording)
    return calls


# -- the bundled model -------------------------------------------------------------------------------------------
def test_entities_labels_and_confidences_of_the_bundled_model(nlp):
    docs = [nlp(text) for text in TEXTS[:4]]
    assert ents(docs[0]) == [("John", "PER", 0, 1), ("Berlin", "LOC", 3, 4)]
    spans = [(text, start, end) for text, _, start, end in ents(docs[1])]
    assert spans == [("Angela Merkel", 0, 2), ("Barack Obama", 3, 5), ("Washington", 6, 7)]
    assert ents(docs[1])[1:] == [("Barack Obama", "PER", 3, 5), ("Washington", "LOC", 6, 7)]
    tagger = nlp.get_pipe("nertag").tagger
    for doc in docs:  # each token's IOB2 tag is the tagger's own (whatever this model makes of Merkel)
        tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_type_ else "O" for t in doc]
        assert tags == tagger.tag([t.text for t in doc])
    assert ("Munich", "LOC", 5, 6) in ents(docs[2])
    assert ("European Union", "ORG", 1, 3) in ents(docs[3])
    confidences = [e._.nertag_confidence for doc in docs for e in doc.ents]
    assert all(isinstance(c, float) and 0 <= c <= 1 for c in confidences)
    assert docs[0].ents[1]._.nertag_confidence > 0.99
    assert [t.ent_iob_ for t in docs[0]] == ["B", "O", "O", "B", "O"]
    assert nlp.get_pipe("nertag").labels == ("LOC", "MISC", "ORG", "PER")


def test_the_factory_is_registered_by_the_decorator_and_configured(nlp):
    assert "nertag" in spacy.blank("en").factories
    assert nlp.config["components"]["nertag"] == {"factory": "nertag", "model": None, "overwrite_ents": True,
                                                  "confidence": True,
                                                  "scorer": {"@scorers": "spacy.ner_scorer.v1"}}
    assert Span.has_extension("nertag_confidence")


def test_the_entry_point_names_the_factory():
    """Visible once nertag is installed from this tree (CI installs it with the extra)."""
    points = [p for p in importlib.metadata.entry_points(group="spacy_factories") if p.name == "nertag"]
    if not points:
        message = "nertag is not installed with its spacy_factories entry point (pip install -e '.[spacy]')"
        if os.environ.get("CI"):
            pytest.fail(message + " (required when CI is set)")
        pytest.skip(message)
    assert [p.value for p in points] == ["nertag.spacy_component:make_nertag"]
    assert points[0].load() is make_nertag


def test_whitespace_tokens_are_not_words(nlp, monkeypatch):
    calls = recorded_calls(monkeypatch, nlp.get_pipe("nertag"))
    doc = nlp("John  lives in Berlin .\n\nHe moved to New  York .")
    assert [t.text for t in doc if t.is_space] == [" ", "\n\n", " "]
    assert calls == [[["John", "lives", "in", "Berlin", ".", "He", "moved", "to", "New", "York", "."]]]
    assert [(e.text, e.label_) for e in doc.ents] == [("John", "PER"), ("Berlin", "LOC"), ("New  York", "LOC")]
    assert ents(doc)[-1][2:] == (10, 13) and doc[11].is_space  # the entity encloses the space token
    assert all(not doc[e.start].is_space and not doc[e.end - 1].is_space for e in doc.ents)


@pytest.mark.parametrize("text", ["", " ", "\n\n  \t"])
def test_empty_and_whitespace_docs(nlp, text):
    doc = nlp(text)
    assert doc.ents == ()
    assert list(nlp.pipe([text, "John lives in Berlin .", text]))[1].ents[0].text == "John"


def test_sentence_boundaries_make_the_sentences(monkeypatch):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("nertag")
    calls = recorded_calls(monkeypatch, nlp.get_pipe("nertag"))
    doc = nlp("John lives in Berlin. Mary works in Paris.")
    assert calls == [[["John", "lives", "in", "Berlin", "."], ["Mary", "works", "in", "Paris", "."]]]
    assert [(e.text, e.label_, e.start, e.end) for e in doc.ents][::3] == [("John", "PER", 0, 1),
                                                                          ("Paris", "LOC", 8, 9)]
    alone = spacy.blank("en")
    alone.add_pipe("nertag")
    assert ents(doc) == ents(alone("John lives in Berlin.")) + [
        (e.text, e.label_, e.start + 5, e.end + 5) for e in alone("Mary works in Paris.").ents]


def test_pipe_tags_a_batch_of_docs_in_one_call_and_equals_one_by_one(nlp, monkeypatch):
    one_by_one = [ents(nlp(text)) for text in TEXTS]
    calls = recorded_calls(monkeypatch, nlp.get_pipe("nertag"))
    docs = list(nlp.pipe(TEXTS, batch_size=4))
    assert [ents(doc) for doc in docs] == one_by_one
    assert [len(sentences) for sentences in calls] == [4, 1]  # the empty doc has no sentence
    assert [e._.nertag_confidence for doc in docs for e in doc.ents] == pytest.approx(
        [e._.nertag_confidence for text in TEXTS for e in nlp(text).ents], abs=1e-6)


# -- a model of our own ------------------------------------------------------------------------------------------
def test_a_model_directory_and_a_long_doc_in_pieces(every_word_loc, monkeypatch):
    nlp = spacy.blank("en")
    component = nlp.add_pipe("nertag", config={"model": str(every_word_loc), "confidence": False})
    calls = recorded_calls(monkeypatch, component)
    words = [f"w{i}" for i in range(20)]
    doc = nlp(" ".join(words[:10]) + "  " + " ".join(words[10:]))  # a space token after w9
    assert calls == [[words]]  # one sentence: the tagger cuts it after 8 words
    assert doc[10].is_space
    assert [(e.text, e.label_, e.start) for e in doc.ents] == [
        (w, "LOC", i + (i >= 10)) for i, w in enumerate(words)]
    assert all(e._.nertag_confidence is None for e in doc.ents)


def test_entities_of_an_earlier_component_are_replaced_or_kept(every_word_loc):
    def pipeline(**config):
        nlp = spacy.blank("en")
        ruler = nlp.add_pipe("entity_ruler")
        ruler.add_patterns([{"label": "ORG", "pattern": "big city"}])
        nlp.add_pipe("nertag", config={"model": str(every_word_loc), **config})
        return nlp

    text = "Paris is a big city"
    assert ents(pipeline()(text)) == [(w, "LOC", i, i + 1) for i, w in enumerate(text.split())]
    kept = pipeline(overwrite_ents=False)(text)
    assert ents(kept) == [("Paris", "LOC", 0, 1), ("is", "LOC", 1, 2), ("a", "LOC", 2, 3), ("big city", "ORG", 3, 5)]
    assert kept.ents[3]._.nertag_confidence is None and kept.ents[0]._.nertag_confidence > 0.99


def test_a_missing_model_directory_says_so(tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        spacy.blank("en").add_pipe("nertag", config={"model": str(tmp_path / "nothing")})


def test_a_saved_pipeline_loads_and_scores(nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["nertag"]
    assert [ents(doc) for doc in loaded.pipe(TEXTS)] == [ents(doc) for doc in nlp.pipe(TEXTS)]
    gold = Example.from_dict(nlp.make_doc("John lives in Berlin ."), {"entities": ["U-PER", "O", "O", "U-LOC", "O"]})
    assert loaded.evaluate([gold])["ents_f"] == 1.0


def test_sentence_tokens(nlp):
    doc = nlp.make_doc("a  b\n")
    assert [t.text for t in doc] == ["a", " ", "b", "\n"]
    assert sentence_tokens(doc) == [[0, 2]]
    assert sentence_tokens(nlp.make_doc(" ")) == [[]]
    assert sentence_tokens(nlp.make_doc("")) == []


def test_pipe_in_two_processes(nlp):
    """Confidences travel back from the workers with the docs (spaCy serialises ``Doc.user_data``)."""
    def seen(docs):
        return [(e.text, e.label_, round(e._.nertag_confidence, 6)) for doc in docs for e in doc.ents]

    assert seen(nlp.pipe(TEXTS, batch_size=2, n_process=2)) == seen(nlp.pipe(TEXTS, batch_size=2))
