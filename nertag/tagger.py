"""The public tagging API: load a model directory, tag tokens, raw text or many sentences in batches.

>>> tagger = Tagger.load("models/wikigold")
>>> tagger.tag_text("John lives in Berlin .")
[Entity(text='John', type='PER', start=0, end=4, ...), Entity(text='Berlin', type='LOC', ...)]
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .config import Config
from .data.batches import encode_tokens, pad
from .data.conll import Sentence
from .data.schemes import allowed_end, allowed_start, allowed_transitions, check_scheme, convert, tags_to_spans
from .data.text import TextLine, tokenize
from .data.vocab import Vocab
from .errors import DataError
from .evaluate import entity_scores
from .network import TaggerNet
from .model_dir import Description, ModelDir
from .net.params import ParamBuffer


@dataclass(frozen=True)
class Entity:
    """A predicted entity: tokens ``[token_start, token_end)``; characters ``[start, end)`` of the line
    when the tokens came from text (else None); ``confidence`` is the CRF probability of its tags."""

    text: str
    type: str
    token_start: int
    token_end: int
    start: int | None
    end: int | None
    confidence: float

    def to_dict(self) -> dict:
        return {"text": self.text, "type": self.type, "start": self.start, "end": self.end,
                "token_start": self.token_start, "token_end": self.token_end,
                "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class Tagged:
    """One tagged sentence: its tokens, tags (in the output scheme) and entities."""

    words: list[str]
    tags: list[str]
    entities: list[Entity]


class Tagger:
    """A network with its vocabularies and configuration.

    Parameters
    ----------
    config : Config
    words, chars, tags : Vocab
        ``tags`` holds the tags of ``config.scheme`` the CRF predicts.
    meta : dict
        ``input_scheme`` (the scheme of the training data, used for output), ``scores`` and so on.
    seed : int
        Initialisation of a new network (training starts from it).
    """

    def __init__(self, config: Config, words: Vocab, chars: Vocab, tags: Vocab, meta: dict | None = None,
                 seed: int | None = None):
        self.config, self.words, self.chars, self.tags = config, words, chars, tags
        self.meta = dict(meta or {})
        tag_list = tags.tokens
        constraints = None
        if config.constrained:
            constraints = (allowed_transitions(tag_list, config.scheme), allowed_start(tag_list, config.scheme),
                           allowed_end(tag_list, config.scheme))
        self.net = TaggerNet(config, len(words), len(chars), len(tags), constraints)
        self.buffer = ParamBuffer(self.net, np.dtype(config.dtype), seed=config.seed if seed is None else seed)

    @property
    def output_scheme(self) -> str:
        return self.meta.get("input_scheme", self.config.scheme)

    @property
    def description(self) -> Description:
        """What the model directory stores besides the weights."""
        return Description(self.config, self.words, self.chars, self.tags, self.meta)

    @classmethod
    def from_files(cls, model_dir) -> Tagger:
        """A tagger with the configuration and vocabularies of ``model_dir`` and freshly initialised weights."""
        d = ModelDir.existing(model_dir).describe()
        return cls(d.config, d.words, d.chars, d.tags, d.meta)

    @classmethod
    def load(cls, model_dir) -> Tagger:
        """Load a trained model directory (see :mod:`nertag.model_dir` for its files)."""
        files = ModelDir.existing(model_dir)
        d = files.describe()
        tagger = cls(d.config, d.words, d.chars, d.tags, d.meta)
        files.load_weights(tagger.buffer.named())
        return tagger

    # -- tagging ---------------------------------------------------------------------------------------
    def _check_length(self, n: int, where: str, line: int | None = None) -> None:
        if n > self.config.max_length:
            raise DataError(f"expected sentences of at most {self.config.max_length} tokens (the model's "
                            f"max_length), found one of {n} tokens", where, line)

    def tag_sentences(self, sentences: Iterable[Sequence[str] | TextLine | Sentence], batch_size: int = 64,
                      scheme: str | None = None, source: str = "<input>") -> Iterator[Tagged]:
        """Tag sentences lazily, ``batch_size`` at a time, keeping input order.

        Parameters
        ----------
        sentences : iterable of token lists (may be empty), TextLine or Sentence
            A TextLine's tokens give its entities character offsets; the line number of a TextLine or
            Sentence (0: unknown) locates a sentence longer than ``config.max_length`` (a DataError).
        scheme : output tag scheme, default the training data's
        source : file name, for error messages
        """
        scheme = check_scheme(scheme) if scheme else self.output_scheme
        chunk: list[tuple[list[str], list[tuple[int, int]] | None]] = []
        for sentence in sentences:
            tokens, offsets, line = _unpack(sentence)
            self._check_length(len(tokens), source, line)
            chunk.append((tokens, offsets))
            if len(chunk) == batch_size:
                yield from self._tag_chunk(chunk, scheme, source)
                chunk = []
        if chunk:
            yield from self._tag_chunk(chunk, scheme, source)

    def _tag_chunk(self, chunk, scheme: str, source: str) -> list[Tagged]:
        real = [i for i, (tokens, _) in enumerate(chunk) if tokens]
        results = {i: Tagged([], [], []) for i in range(len(chunk)) if not chunk[i][0]}
        if real:
            batch = pad([encode_tokens(chunk[i][0], self.words, self.chars) for i in real])
            paths, E = self.net.decode(batch)
            spans_per_sentence, rows = [], []
            for b, i in enumerate(real):
                n = int(batch.lengths[b])
                learned = self.tags.decode(paths[:n, b])
                spans = tags_to_spans(learned, self.config.scheme)
                spans_per_sentence.append((learned, spans))
                rows += [(b, first, stop) for first, stop, _ in spans]
            confidence = (self.net.crf.span_confidence(E, batch.lengths, paths, np.array(rows, dtype=np.int64))
                          if rows else np.zeros(0))
            k = 0
            for b, i in enumerate(real):
                tokens, token_offsets = chunk[i]
                learned, spans = spans_per_sentence[b]
                entities = []
                for first, stop, type_ in spans:
                    start = end = None
                    if token_offsets is not None:
                        start, end = token_offsets[first][0], token_offsets[stop - 1][1]
                    entities.append(Entity(" ".join(tokens[first:stop]), type_, first, stop, start, end,
                                           float(confidence[k])))
                    k += 1
                results[i] = Tagged(tokens, convert(learned, self.config.scheme, scheme), entities)
        return [results[i] for i in range(len(chunk))]

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """Tags of one tokenised sentence, in the output scheme."""
        return next(self.tag_sentences([tokens])).tags

    def tag_text(self, line: str, tokenizer: str = "whitespace") -> list[Entity]:
        """Entities of one line of raw text, with character offsets into it."""
        return next(self.tag_sentences([TextLine(line, tokenize(line, tokenizer), 0)])).entities

    def evaluate(self, sentences: Sequence[Sentence], gold_scheme: str, strict: bool = False,
                 batch_size: int = 64, source: str = "<input>") -> tuple[dict, list[list[str]]]:
        """Entity-level scores against the gold tags of ``sentences`` and the predicted tags (gold scheme)."""
        predicted = [t.tags for t in self.tag_sentences(sentences, batch_size, scheme=gold_scheme, source=source)]
        gold = [s.tags for s in sentences]
        return entity_scores(gold, predicted, gold_scheme, strict), predicted


def _unpack(sentence: Sequence[str] | TextLine | Sentence) -> tuple[list[str], list[tuple[int, int]] | None,
                                                                    int | None]:
    """Tokens, their character offsets (None unless from text) and line number (None if unknown)."""
    if isinstance(sentence, TextLine):
        return sentence.words, [(t.start, t.end) for t in sentence.tokens], sentence.line or None
    if isinstance(sentence, Sentence):
        return list(sentence.words), None, sentence.line or None
    return list(sentence), None, None
