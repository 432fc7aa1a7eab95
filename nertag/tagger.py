"""The public tagging API: load a model directory, tag tokens, raw text or many sentences in batches.

>>> tagger = Tagger.load("models/wikigold")
>>> tagger.tag_text("John lives in Berlin .")
[Entity(text='John', type='PER', start=0, end=4, ...), Entity(text='Berlin', type='LOC', ...)]
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Config
from .data.batches import pad_tokens
from .data.conll import Sentence
from .data.schemes import TagIds, allowed_end, allowed_start, allowed_transitions, check_scheme, convert
from .data.text import TOKENIZERS, RawLine, TextLine, Token, text_line
from .data.vocab import Vocab
from .errors import NertagError
from .evaluate import entity_scores
from .network import TaggerNet
from .model_dir import Description, ModelDir
from .net.params import ParamBuffer

WINDOW = 1024  # sentences read ahead and sorted by length together (padding: 13% of eng.testb at batch 32)
TASK_SENTENCES = 128  # sentences tagged as one task (whole batches, at least one): a window makes several, which
#                       --jobs workers share, each a few hundred milliseconds of work at most (see task_plan)
MAX_PARAMETER_GIB = 8  # a configuration needing more is refused before anything is allocated
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
        gib = 2 * self.net.n_params * np.dtype(config.dtype).itemsize / 2**30  # parameters and gradients
        if gib > MAX_PARAMETER_GIB:
            raise NertagError(f"the configuration asks for {self.net.n_params:,} parameters ({gib:,.1f} GiB with "
                              f"their gradients), more than the {MAX_PARAMETER_GIB} GiB nertag allocates; lower "
                              f"hidden, word_dim or char_hidden")
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
                    jobs: int = 1, render: Callable[[Any, Tagged], str] | None = None
                    ) -> Iterator[list[Tagged] | str]:
        """Tag each window (a list of sentences, as for `tag_sentences`) as one unit: its results, in its order.

        The caller chooses where windows end, e.g. when its input pauses (see :func:`nertag.parallel.read_ahead`).

        Parameters
        ----------
        render : callable ``(sentence, Tagged) -> str``, optional
            Turn each sentence and its result into text (e.g. ``functools.partial(format_tagged, ...)``):
            each window then gives the texts of its sentences joined, in order. With ``jobs > 1`` the workers
            render, and the sentences travel to them and the texts back, so `render` must pickle (a
            module-level function or a partial of one).
        """
        scheme = check_scheme(scheme) if scheme else self.output_scheme
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        if jobs == 1:
            for window in windows:
                sentences, tagged = self._tag_tasks(window, scheme, batch_size, confidence, source)
                yield tagged if render is None else "".join(map(render, sentences, tagged))
            return
        from .parallel import WorkerPool

        with WorkerPool(self, jobs) as pool:
            yield from pool.map(windows, scheme, batch_size, confidence, source, render)

    def _tag_tasks(self, window, scheme: str, batch_size: int, confidence: bool, source: str
                   ) -> tuple[list, list[Tagged]]:
        """Tag a window in the tasks `task_plan` cuts it into, as the workers of ``jobs > 1`` do, so that
        one process and several give the same results bit for bit; its sentences (`RawLine` tokenised) and
        their results, in its order."""
        tasks = task_plan(self._lengths(window, source), batch_size)
        sentences = [tokenized(sentence) for sentence in window]
        results: list = [None] * len(window)
        for indices in tasks:
            task = [sentences[i] for i in indices]
            for i, tagged in zip(indices, self._tag_window(self._prepare(task, source), scheme, batch_size,
                                                           confidence)):
                results[i] = tagged
        return sentences, [Tagged([], [], []) if r is None else r for r in results]   # (empty: in no task)

    def _lengths(self, window, source: str) -> list[int]:
        """The length each sentence of a window is planned by (`plan_length`)."""
        return list(map(plan_length, window))

    def _prepare(self, window, source: str) -> list[tuple[list[str], list[Token] | None, tuple[int, ...]]]:
        """Words, tokens (None unless from text) and sentence breaks (`TextLine.breaks`) of each sentence."""
        return [_unpack(sentence) for sentence in window]

    def _tag_window(self, window, scheme: str, batch_size: int, confidence: bool) -> list[Tagged]:
        """Tag ``(words, tokens, breaks)`` of a window in batches of similar lengths; results in its order.

        A sentence longer than ``max_length`` and each sentence of a split line (its ``breaks``) are tagged
        as pieces of their own, then joined again into the one result of their line.
        """
        pieces, counts = _pieces(window, self.config.max_length)
        results: list[Tagged | None] = [Tagged([], [], []) if not words else None for words, _ in pieces]
        real = length_order([len(words) for words, _ in pieces])
        for start in range(0, len(real), batch_size):
            batch = real[start:start + batch_size]
            for i, tagged in zip(batch, self._tag_batch([pieces[i] for i in batch], scheme, confidence)):
                results[i] = tagged
        return _joined(results, counts)

    def _encode(self, sentences: Sequence[Sequence[str]]):
        """Non-empty tokenised sentences as one padded batch of this model's ids."""
        return pad_tokens(sentences, self.words, self.chars)

    @functools.cached_property
    def _tag_ids(self) -> TagIds:
        """Spans and output tags of decoded tag ids (the tag list is checked on first use)."""
        return TagIds(self.tags.tokens, self.config.scheme)

    def _tag_batch(self, chunk, scheme: str, confidence: bool) -> list[Tagged]:
        """Tag non-empty ``(words, tokens)`` pairs as one padded batch."""
        batch = self._encode([words for words, _ in chunk])
        paths, E = self.net.decode(batch)                                   # (T, B), (T, B, K)
        ids = paths.T[batch.mask.T]                                         # (N,) sentence after sentence
        spans = self._tag_ids.spans(ids, batch.lengths)                     # (S,) each: column, start, end, type
        tags = self._tag_ids.tags(spans, batch.lengths, scheme)
        probabilities = itertools.repeat(None)
        if confidence and spans[0].size:
            rows = np.stack(spans[:3], axis=1)                              # (S, 3) column, start, end
            probabilities = self.net.crf.span_confidence(E, batch.lengths, paths, rows).tolist()
        entities: list[list[Entity]] = [[] for _ in chunk]
        types = self._tag_ids.types
        for b, first, stop, k, p in zip(*(a.tolist() for a in spans), probabilities):
            words, tokens = chunk[b]
            start = end = None
            if tokens is not None:
                start, end = tokens[first].start, tokens[stop - 1].end
            entities[b].append(Entity(" ".join(words[first:stop]), types[k], first, stop, start, end, p))
        return [Tagged(words, sentence_tags, found)
                for (words, _), sentence_tags, found in zip(chunk, tags, entities)]

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """Tags of one tokenised sentence, in the output scheme."""
        return next(self.tag_sentences([tokens])).tags

    def tag_text(self, line: str, tokenizer: str = "ptb", sentences: bool = False) -> list[Entity]:
        """Entities of one line of raw text, with character offsets into it.

        ``sentences=True`` splits a paragraph into sentences first (each tagged on its own).
        """
        return next(self.tag_sentences([text_line(line, tokenizer, sentences)])).entities

    def pipe(self, texts: Iterable[str], batch_size: int = 64, jobs: int = 1, *, tokenizer: str = "ptb",
             sentences: bool = False, confidence: bool = True) -> Iterator[list[Entity]]:
        """The entities of each text (one line of raw text, or a paragraph with ``sentences=True``), with
        character offsets into it, in order; tagged in batches of similar lengths (see `tag_sentences`)."""
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokeniser {tokenizer!r}; expected one of {', '.join(TOKENIZERS)}")
        lines = (RawLine(text, 0, tokenizer, sentences) for text in texts)          # tokenised where tagged
        for tagged in self.tag_sentences(lines, batch_size, confidence=confidence, jobs=jobs):
            yield tagged.entities

    def nbest(self, sentences: Iterable[Sequence[str]], k: int = 5, scheme: str | None = None, *,
              batch_size: int = 64) -> Iterator[list[tuple[list[str], float]]]:
        """The ``k`` most probable tag sequences of each tokenised sentence, best first, with their
        probabilities under the CRF (and the decoding constraints): NCRF++'s n-best decoding.

        Fewer than ``k`` come back where a sentence has fewer allowed sequences; an empty sentence has one,
        ``([], 1.0)``.
        """
        scheme = check_scheme(scheme) if scheme else self.output_scheme
        for chunk in _windows(sentences, batch_size):
            words = [list(s) for s in chunk]
            real = [i for i, w in enumerate(words) if w]
            results: list[list[tuple[list[str], float]]] = [[([], 1.0)] for _ in words]
            if real:
                batch = self._encode([words[i] for i in real])
                E, _ = self.net.emissions(batch, grad=False)
                paths, scores = self.net.crf.kbest(E, batch.padded, k)          # (k, T, B), (k, B)
                log_z, _ = self.net.crf.partition(E, batch.padded)             # (B,)
                for b, i in enumerate(real):
                    n = int(batch.lengths[b])
                    results[i] = [(convert(self.tags.decode(paths[j, :n, b]), self.config.scheme, scheme),
                                   float(np.exp(scores[j, b] - log_z[b])))
                                  for j in range(paths.shape[0]) if np.isfinite(scores[j, b])]
            yield from results

    def marginals(self, sentences: Iterable[Sequence[str]], *, batch_size: int = 64
                  ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Per-token tag probabilities of each tokenised sentence: the tags (of the scheme the CRF learned,
        ``config.scheme``) and ``P(y_t = tag | sentence)``, an array ``(n, K)`` whose rows sum to 1."""
        for chunk in _windows(sentences, batch_size):
            words = [list(s) for s in chunk]
            real = [i for i, w in enumerate(words) if w]
            results = [(self.tags.tokens, np.zeros((0, len(self.tags)))) for _ in words]
            if real:
                batch = self._encode([words[i] for i in real])
                E, _ = self.net.emissions(batch, grad=False)
                _, marginals = self.net.crf.partition(E, batch.padded)         # (T, B, K)
                for b, i in enumerate(real):
                    results[i] = (self.tags.tokens, np.array(marginals[:int(batch.lengths[b]), b], np.float64))
            yield from results

    def evaluate(self, sentences: Sequence[Sentence], gold_scheme: str, strict: bool = False,
                 batch_size: int = 64, source: str = "<input>") -> tuple[dict, list[list[str]]]:
        """Entity-level scores against the gold tags of ``sentences`` and the predicted tags (gold scheme)."""
        predicted = [t.tags for t in self.tag_sentences(sentences, batch_size, scheme=gold_scheme, source=source,
                                                        confidence=False)]
        gold = [s.tags for s in sentences]
        return entity_scores(gold, predicted, gold_scheme, strict), predicted


def length_order(lengths: Sequence[int]) -> list[int]:
    """Indices of the non-zero ``lengths`` (of a window's sentences), shortest first (ties in input order)."""
    return sorted((i for i, n in enumerate(lengths) if n), key=lengths.__getitem__)


def task_plan(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """The tasks of a window: its non-empty sentences by length (`length_order`), cut into runs of whole
    batches of about `TASK_SENTENCES` sentences, the longest run first (for workers: the last to finish is
    short). A task is tagged on its own (`Tagger._tag_window`), so the plan fixes every batch."""
    order, step = length_order(lengths), batch_size * max(1, TASK_SENTENCES // batch_size)
    return [order[start:start + step] for start in reversed(range(0, len(order), step))]


def plan_length(sentence: Sequence[str] | TextLine | Sentence | RawLine) -> int:
    """The length `task_plan` sorts a sentence by: for a line of text, tokenised (`TextLine`) or not
    (`RawLine`), its whitespace-separated chunks, so that a text is batched with the same others whichever way
    it came (the command line, which tokenises where it tags, the API, tag-corpus: BLAS may round a row
    differently in a batch of other rows); else its tokens. 0 only for an empty sentence."""
    if type(sentence) is RawLine:
        return sentence.words_guess
    if isinstance(sentence, TextLine):
        return max(1, len(sentence.text.split())) if sentence.tokens else 0
    return sentence_length(sentence)


def tokenized(sentence):
    """A `RawLine` tokenised (a `TextLine`); any other sentence as it is."""
    return sentence.tokenized() if type(sentence) is RawLine else sentence


def sentence_length(sentence: Sequence[str] | TextLine | Sentence | RawLine) -> int:
    """Tokens in a sentence, without unpacking it (a `RawLine`'s guess, before tokenising)."""
    if type(sentence) is RawLine:
        return sentence.words_guess
    if isinstance(sentence, TextLine):
        return len(sentence.tokens)
    if isinstance(sentence, Sentence):
        return len(sentence.words)
    return len(sentence)


def _windows(sentences: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(sentences)
    while window := list(itertools.islice(iterator, size)):
        yield window


def _unpack(sentence: Sequence[str] | TextLine | Sentence) -> tuple[list[str], list[Token] | None, tuple[int, ...]]:
    """Words, their tokens with character offsets (None unless from text) and the sentence breaks."""
    if isinstance(sentence, TextLine):
        return sentence.words, sentence.tokens, sentence.breaks
    if isinstance(sentence, Sentence):
        return list(sentence.words), None, ()
    return list(sentence), None, ()


def _pieces(window, limit: int) -> tuple[list[tuple[list[str], list[Token] | None]], list[int]]:
    """The ``(words, tokens)`` pieces of a window's ``(words, tokens, breaks)``: cut at the breaks and every
    ``limit`` tokens; and how many pieces each sentence became."""
    pieces, counts = [], []
    for words, tokens, breaks in window:
        if len(words) <= limit and not breaks:
            pieces.append((words, tokens))
            counts.append(1)
            continue
        bounds = [0, *breaks, len(words)]
        starts = [b for first, end in zip(bounds, bounds[1:]) for b in range(first, end, limit)]
        ends = starts[1:] + [len(words)]
        pieces += [(words[b:e], None if tokens is None else tokens[b:e]) for b, e in zip(starts, ends)]
        counts.append(len(starts))
    return pieces, counts


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
