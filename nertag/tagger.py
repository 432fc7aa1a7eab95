"""The public tagging API: load a model directory, tag tokens, raw text or many sentences in batches.

>>> tagger = Tagger.load("models/wikigold")
>>> tagger.tag_text("John lives in Berlin .")
[Entity(text='John', type='PER', start=0, end=4, ...), Entity(text='Berlin', type='LOC', ...)]
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .config import Config
from .data.batches import encode_tokens, pad
from .data.conll import Sentence
from .data.schemes import allowed_end, allowed_start, allowed_transitions, check_scheme, convert, tags_to_spans
from .data.text import TextLine, text_line
from .data.vocab import Vocab
from .evaluate import entity_scores
from .network import TaggerNet
from .model_dir import Description, ModelDir
from .net.params import ParamBuffer

WINDOW = 1024  # sentences read ahead and sorted by length together (padding: 13% of eng.testb at batch 32)
OUTPUT_SCHEME = "IOB2"  # of tags handed out, unless asked otherwise: B- opens every entity


@dataclass(frozen=True)
class Entity:
    """A predicted entity: tokens ``[token_start, token_end)``; characters ``[start, end)`` of the line
    when the tokens came from text (else None); ``confidence`` is the CRF probability of its tags (None when
    it was not asked for: ``Tagger.tag_sentences(..., confidence=False)``)."""

    text: str
    type: str
    token_start: int
    token_end: int
    start: int | None
    end: int | None
    confidence: float | None

    def to_dict(self) -> dict:
        return {"text": self.text, "type": self.type, "start": self.start, "end": self.end,
                "token_start": self.token_start, "token_end": self.token_end,
                "confidence": None if self.confidence is None else round(self.confidence, 4)}


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
        ``input_scheme`` (the scheme of the training data), ``scores`` and so on.
    seed : int
        Initialisation of a new network (training starts from it).
    initialise : bool, default True
        False leaves the weights zero for a caller that loads them all (see `load`).
    """

    def __init__(self, config: Config, words: Vocab, chars: Vocab, tags: Vocab, meta: dict | None = None,
                 seed: int | None = None, *, initialise: bool = True):
        self.config, self.words, self.chars, self.tags = config, words, chars, tags
        self.meta = dict(meta or {})
        tag_list = tags.tokens
        constraints = None
        if config.constrained:
            constraints = (allowed_transitions(tag_list, config.scheme), allowed_start(tag_list, config.scheme),
                           allowed_end(tag_list, config.scheme))
        self.net = TaggerNet(config, len(words), len(chars), len(tags), constraints)
        self.buffer = ParamBuffer(self.net, np.dtype(config.dtype), seed=config.seed if seed is None else seed,
                                  initialise=initialise)

    @property
    def output_scheme(self) -> str:
        """IOB2 (B- opens every entity), what users and most tools expect, whatever the training data used."""
        return OUTPUT_SCHEME

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
        tagger = cls(d.config, d.words, d.chars, d.tags, d.meta, initialise=False)
        files.load_weights(tagger.buffer.named())
        return tagger

    # -- tagging ---------------------------------------------------------------------------------------
    def tag_sentences(self, sentences: Iterable[Sequence[str] | TextLine | Sentence], batch_size: int = 64,
                      scheme: str | None = None, source: str = "<input>", *, confidence: bool = True,
                      window: int = WINDOW, jobs: int = 1) -> Iterator[Tagged]:
        """Tag sentences lazily, reading ahead at most ``window`` of them, keeping input order.

        Within each window the sentences are sorted by length and tagged ``batch_size`` at a time, so that
        batches carry little padding; results come out in input order once the window is tagged.

        Parameters
        ----------
        sentences : iterable of token lists (may be empty), TextLine or Sentence
            A TextLine's tokens give its entities character offsets. A sentence longer than the model's
            ``max_length`` is tagged in pieces of that many tokens (an entity across a cut is cut too).
        scheme : output tag scheme, default IOB2
        source : file name, for error messages
        confidence : bool, default True
            Compute `Entity.confidence`; without it every confidence is None (and tagging is faster).
        window : int
            Sentences read ahead and sorted together: more means less padding, later first results.
        jobs : int, default 1
            Worker processes, one BLAS thread each (see :mod:`nertag.parallel`); 1 tags in this process.
        """
        if window < 1:
            raise ValueError(f"window must be at least 1, not {window}")
        yield from itertools.chain.from_iterable(self.tag_windows(
            _windows(sentences, window), batch_size, scheme, source, confidence=confidence, jobs=jobs))

    def tag_windows(self, windows: Iterable[Sequence[Sequence[str] | TextLine | Sentence]], batch_size: int = 64,
                    scheme: str | None = None, source: str = "<input>", *, confidence: bool = True,
                    jobs: int = 1) -> Iterator[list[Tagged]]:
        """Tag each window (a list of sentences, as for `tag_sentences`) as one unit: its results, in its order.

        The caller chooses where windows end, e.g. when its input pauses (see :func:`nertag.parallel.read_ahead`).
        """
        scheme = check_scheme(scheme) if scheme else self.output_scheme
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        pieces: collections.deque[list[int]] = collections.deque()  # per window read: pieces per sentence
        items = (self._prepare(window, pieces) for window in windows)
        if jobs == 1:
            for window in items:
                yield _joined(self._tag_window(window, scheme, batch_size, confidence), pieces.popleft())
            return
        from .parallel import WorkerPool

        with WorkerPool(self, jobs) as pool:
            for tagged in pool.map(items, scheme, batch_size, confidence):
                yield _joined(tagged, pieces.popleft())

    def _prepare(self, window, pieces: collections.deque) -> list[tuple[list[str], list[tuple[int, int]] | None]]:
        """Tokens and character offsets of each sentence of a window, in pieces of at most ``max_length``.

        Appends to ``pieces`` how many pieces each sentence became (1 unless it is long).
        """
        prepared, counts, limit = [], [], self.config.max_length
        for sentence in window:
            tokens, offsets = _unpack(sentence)
            breaks = sentence.breaks if isinstance(sentence, TextLine) else ()
            if len(tokens) <= limit and not breaks:
                prepared.append((tokens, offsets))
                counts.append(1)
                continue
            bounds = [0, *breaks, len(tokens)]
            starts = [b for first, end in zip(bounds, bounds[1:]) for b in range(first, end, limit)]
            ends = starts[1:] + [len(tokens)]
            prepared += [(tokens[b:e], None if offsets is None else offsets[b:e]) for b, e in zip(starts, ends)]
            counts.append(len(starts))
        pieces.append(counts)
        return prepared

    def _tag_window(self, window, scheme: str, batch_size: int, confidence: bool) -> list[Tagged]:
        """Tag ``(tokens, offsets)`` pairs in batches of similar lengths; results in the window's order."""
        results: list[Tagged | None] = [Tagged([], [], []) if not tokens else None for tokens, _ in window]
        real = length_order(window)
        for start in range(0, len(real), batch_size):
            batch = real[start:start + batch_size]
            for i, tagged in zip(batch, self._tag_batch([window[i] for i in batch], scheme, confidence)):
                results[i] = tagged
        return results

    def _tag_batch(self, chunk, scheme: str, confidence: bool) -> list[Tagged]:
        """Tag non-empty ``(tokens, offsets)`` pairs as one padded batch."""
        batch = pad([encode_tokens(tokens, self.words, self.chars) for tokens, _ in chunk])
        paths, E = self.net.decode(batch)
        spans_per_sentence, rows = [], []
        for b in range(len(chunk)):
            n = int(batch.lengths[b])
            learned = self.tags.decode(paths[:n, b])
            spans = tags_to_spans(learned, self.config.scheme)
            spans_per_sentence.append((learned, spans))
            rows += [(b, first, stop) for first, stop, _ in spans]
        probabilities = [None] * len(rows)
        if confidence and rows:
            probabilities = self.net.crf.span_confidence(E, batch.lengths, paths,
                                                         np.array(rows, dtype=np.int64)).tolist()
        results, k = [], 0
        for (tokens, token_offsets), (learned, spans) in zip(chunk, spans_per_sentence):
            entities = []
            for first, stop, type_ in spans:
                start = end = None
                if token_offsets is not None:
                    start, end = token_offsets[first][0], token_offsets[stop - 1][1]
                entities.append(Entity(" ".join(tokens[first:stop]), type_, first, stop, start, end,
                                       probabilities[k]))
                k += 1
            results.append(Tagged(tokens, convert(learned, self.config.scheme, scheme), entities))
        return results

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """Tags of one tokenised sentence, in the output scheme."""
        return next(self.tag_sentences([tokens])).tags

    def tag_text(self, line: str, tokenizer: str = "ptb", sentences: bool = False) -> list[Entity]:
        """Entities of one line of raw text, with character offsets into it.

        ``sentences=True`` splits a paragraph into sentences first (each tagged on its own).
        """
        return next(self.tag_sentences([text_line(line, tokenizer, sentences)])).entities

    def evaluate(self, sentences: Sequence[Sentence], gold_scheme: str, strict: bool = False,
                 batch_size: int = 64, source: str = "<input>") -> tuple[dict, list[list[str]]]:
        """Entity-level scores against the gold tags of ``sentences`` and the predicted tags (gold scheme)."""
        predicted = [t.tags for t in self.tag_sentences(sentences, batch_size, scheme=gold_scheme, source=source,
                                                        confidence=False)]
        gold = [s.tags for s in sentences]
        return entity_scores(gold, predicted, gold_scheme, strict), predicted


def length_order(window) -> list[int]:
    """Indices of the non-empty ``(tokens, offsets)`` pairs of a window, shortest first (ties in input order)."""
    return sorted((i for i, (tokens, _) in enumerate(window) if tokens), key=lambda i: len(window[i][0]))


def _windows(sentences: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(sentences)
    while window := list(itertools.islice(iterator, size)):
        yield window


def _unpack(sentence: Sequence[str] | TextLine | Sentence) -> tuple[list[str], list[tuple[int, int]] | None]:
    """Tokens and their character offsets (None unless from text)."""
    if isinstance(sentence, TextLine):
        return sentence.words, [(t.start, t.end) for t in sentence.tokens]
    if isinstance(sentence, Sentence):
        return list(sentence.words), None
    return list(sentence), None


def _joined(tagged: list[Tagged], counts: list[int]) -> list[Tagged]:
    """The results of the pieces of each sentence (``counts[i]`` for sentence i) joined into one."""
    if len(tagged) == len(counts):
        return tagged
    out, k = [], 0
    for n in counts:
        parts, k = tagged[k:k + n], k + n
        if n == 1:
            out += parts
            continue
        words, tags, entities = [], [], []
        for part in parts:
            shift = len(words)
            entities += [dataclasses.replace(e, token_start=e.token_start + shift, token_end=e.token_end + shift)
                         for e in part.entities]
            words += part.words
            tags += part.tags
        out.append(Tagged(words, tags, entities))
    return out
