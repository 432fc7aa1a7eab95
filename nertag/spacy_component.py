"""nertag as a spaCy pipeline component: its entities become ``doc.ents`` (the optional extra ``nertag[spacy]``).

>>> import spacy
>>> nlp = spacy.blank("en")
>>> component = nlp.add_pipe("nertag")  # the bundled model; config={"model": "mymodel"} for another directory
>>> [(e.text, e.label_, round(e._.nertag_confidence, 2)) for e in nlp("John lives in Berlin.").ents]
[('John', 'PER', 1.0), ('Berlin', 'LOC', 1.0)]

The factory ``nertag`` is registered twice over: by spaCy's entry point group ``spacy_factories`` (so that an
installed nertag is found without importing it, as ``spacy.load`` of a saved pipeline needs) and by
``@Language.factory`` below (so that importing this module is enough).

What the component does with a doc:

- **Words** are spaCy's tokens except whitespace tokens (``token.is_space``), which nertag never saw in
  training; an entity's token span is mapped back to the doc's token indices, so an entity may enclose a
  whitespace token but never starts or ends on one.
- **Sentences** are the doc's own when it has sentence boundaries (``doc.has_annotation("SENT_START")``: a
  sentencizer, senter or parser ran before); otherwise the whole doc is tagged as one sentence, which the
  tagger cuts into pieces of the model's ``max_length`` tokens (an entity across a cut is cut too).
- **Existing entities**, from an earlier component, are replaced (``overwrite_ents=True``, the default): nertag
  tags every word, so its ``doc.ents`` is a complete annotation and every other token is set to O.
  ``overwrite_ents=False`` keeps them and adds only nertag's entities that overlap none of them, as spaCy's
  ``entity_ruler`` does by default.
- **Confidence**: each entity's ``Span._.nertag_confidence`` is the CRF probability of its tags (None with
  ``confidence=False``, which tags faster, and for entities nertag did not set).
- **Batches**: ``nlp.pipe(texts, batch_size=n)`` tags the sentences of ``n`` docs at a time in one call of
  `nertag.tagger.Tagger.tag_sentences`, which sorts them by length so that network batches carry little
  padding.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from .model_dir import bundled_model
from .tagger import Tagger

NAME = "nertag"
CONFIDENCE = "nertag_confidence"  # Span._.nertag_confidence


@Language.factory(
    NAME,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", f"span._.{CONFIDENCE}"],
    default_config={"model": None, "overwrite_ents": True, "confidence": True,
                    "scorer": {"@scorers": "spacy.ner_scorer.v1"}},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_nertag(nlp: Language, name: str, model: str | None, overwrite_ents: bool, confidence: bool,
                scorer: Callable | None) -> NertagComponent:
    """The ``nertag`` component; ``model`` is a model directory, None for the bundled CoNLL-2003 model."""
    return NertagComponent(name, model, overwrite_ents=overwrite_ents, confidence=confidence, scorer=scorer)


class NertagComponent(Pipe):
    """Sets ``doc.ents`` to the entities a nertag model finds (see the module docstring for how).

    Parameters
    ----------
    name : str
        The component's name in the pipeline.
    model : str, Path or None
        A nertag model directory; None for the bundled model (`nertag.model_dir.bundled_model`).
    overwrite_ents : bool, default True
        Replace the doc's entities; False keeps them and adds nertag's that do not overlap them.
    confidence : bool, default True
        Set ``Span._.nertag_confidence``; False leaves it None and tags faster.
    scorer : callable or None
        Scores examples for ``nlp.evaluate`` (spaCy's NER scorer by default: ``ents_p/r/f``).
    """

    def __init__(self, name: str = NAME, model: str | Path | None = None, *, overwrite_ents: bool = True,
                 confidence: bool = True, scorer: Callable | None = None):
        self.name = name
        self.model = bundled_model() if model is None else Path(model)
        self.tagger = Tagger.load(self.model)
        self.overwrite_ents = overwrite_ents
        self.confidence = confidence
        self.scorer = scorer
        if not Span.has_extension(CONFIDENCE):
            Span.set_extension(CONFIDENCE, default=None)

    @property
    def labels(self) -> tuple[str, ...]:
        """The entity types of the model, e.g. ``('LOC', 'MISC', 'ORG', 'PER')``."""
        return tuple(sorted({tag.split("-", 1)[1] for tag in self.tagger.tags.tokens if "-" in tag}))

    def __call__(self, doc: Doc) -> Doc:
        error_handler = self.get_error_handler()
        try:
            self.set_entities([doc])
            return doc
        except Exception as e:
            return error_handler(self.name, self, [doc], e)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Tag ``batch_size`` docs at a time, all their sentences in one call of the tagger; docs in order.

        A batch that fails goes to the error handler (``nlp.set_error_handler``) and, if that returns, is
        left out, as in spaCy's own components.
        """
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                self.set_entities(docs)
            except Exception as e:
                error_handler(self.name, self, docs, e)
                continue
            yield from docs

    def set_entities(self, docs: list[Doc]) -> None:
        """Tag the sentences of all ``docs`` together and set each doc's entities."""
        units = [sentence_tokens(doc) for doc in docs]
        words = [[doc[i].text for i in sentence] for doc, sentences in zip(docs, units) for sentence in sentences]
        # all tagged before any doc changes: a batch that fails leaves its docs as they were
        tagged = iter(list(self.tagger.tag_sentences(words, confidence=self.confidence)))
        for doc, sentences in zip(docs, units):
            spans = []
            for sentence, result in zip(sentences, tagged):
                for e in result.entities:
                    span = Span(doc, sentence[e.token_start], sentence[e.token_end - 1] + 1, label=e.type)
                    spans.append((span, e.confidence))
            self._set_ents(doc, spans)

    def _set_ents(self, doc: Doc, spans: list[tuple[Span, float | None]]) -> None:
        """``doc.ents`` from nertag's ``(span, confidence)`` pairs and, unless overwriting, the doc's own."""
        kept = []
        if not self.overwrite_ents:
            kept = list(doc.ents)
            taken = {i for ent in kept for i in range(ent.start, ent.end)}
            spans = [(s, c) for s, c in spans if taken.isdisjoint(range(s.start, s.end))]
        doc.ents = sorted(kept + [span for span, _ in spans], key=lambda span: span.start)
        for span, confidence in spans:  # after setting: the doc keeps extension values by span boundaries
            span._.set(CONFIDENCE, confidence)


def sentence_tokens(doc: Doc) -> list[list[int]]:
    """Indices of the tokens nertag tags, per sentence: the doc's sentences if it has any, else the whole doc;
    whitespace tokens left out (a sentence of whitespace only becomes an empty list, an empty doc has none)."""
    if not len(doc):
        return []  # (spaCy finds an empty doc annotated with sentence starts, and without sentences)
    sentences = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
    return [[token.i for token in sentence if not token.is_space] for sentence in sentences]
