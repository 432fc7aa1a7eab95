"""Tag schemes IOB1, IOB2 and BIOES: validation, detection, conversion, entity spans, decoding constraints.

A tag is ``O`` or ``P-TYPE``: a one-letter prefix ``P``, a hyphen and a non-empty type (which may itself
contain hyphens, as WNUT-17's ``creative-work``). The prefixes each scheme uses:

========  ===============  ==============================================================
scheme    prefixes         an entity ...
========  ===============  ==============================================================
IOB1      ``I`` ``B``      is ``I``-tagged; ``B`` marks its first token only when it directly
                           follows an entity of the same type (CoNLL-2003, WikiGold)
IOB2      ``B`` ``I``      starts with ``B``, continues with ``I`` (a.k.a. BIO; WNUT-17)
BIOES     ``B I E S``      of one token is ``S``; longer ones are ``B I* E`` (a.k.a. IOBES)
========  ===============  ==============================================================

Spans are read with conlleval's chunk rule, which understands all three schemes at once and repairs
ill-formed sequences the way the official scorer does (an ``I-X`` after ``O`` starts an entity).
Conversion goes through spans, so its output is always well-formed in the target scheme.

References
----------
Ramshaw and Marcus (1995), Text chunking using transformation-based learning (IOB1).
Tjong Kim Sang and Veenstra (1999), Representing text chunks (IOB2, IOE).
Ratinov and Roth (2009), Design challenges and misconceptions in named entity recognition (BILOU/BIOES).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from nertag.errors import DataError, NertagError, excerpt

SCHEMES = ("IOB1", "IOB2", "BIOES")
_ALIASES = {"IOB1": "IOB1", "IOB2": "IOB2", "BIO": "IOB2", "BIOES": "BIOES", "IOBES": "BIOES"}
_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES", None: "BIES"}

Span = tuple[int, int, str]


def check_scheme(scheme: str) -> str:
    """Return the canonical name of `scheme` (case-insensitive; BIO = IOB2, IOBES = BIOES)."""
    canonical = _ALIASES.get(str(scheme).upper())
    if canonical is None:
        raise NertagError(f"unknown tag scheme {scheme!r}; expected one of IOB1, IOB2, BIOES (or BIO, IOBES)")
    return canonical


def split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into prefix and type: ``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", "")``."""
    return ("O", "") if tag == "O" else (tag[0], tag[2:])


def tag_error(tag: str, scheme: str | None = None) -> str | None:
    """Say what is wrong with `tag` in `scheme` (any of B/I/E/S prefixes when None), or None if it is fine."""
    prefixes = _PREFIXES[scheme]
    if tag == "O" or (len(tag) > 2 and tag[1] == "-" and tag[0] in prefixes):
        return None
    forms = "/".join(f"{p}-TYPE" for p in prefixes)
    where = f" in {scheme}" if scheme else ""
    return f"expected a tag O or {forms}{where}, found {excerpt(tag)}"


def scheme_tags(types: Iterable[str], scheme: str) -> list[str]:
    """All tags of `scheme` for entity `types`: ``O`` first, then per sorted type its prefixed tags."""
    prefixes = "BI" if (scheme := check_scheme(scheme)) != "BIOES" else "BIES"
    return ["O"] + [f"{p}-{t}" for t in sorted(set(types)) for p in prefixes]


def _checked(tags: Sequence[str], scheme: str | None) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    parts = []
    for tag in tags:
        part = seen.get(tag)
        if part is None:
            message = tag_error(tag, scheme)
            if message:
                raise DataError(message)
            part = seen[tag] = split_tag(tag)
        parts.append(part)
    return parts


def tags_to_spans(tags: Sequence[str], scheme: str | None = None) -> list[Span]:
    """Entity spans of a tag sequence, read by conlleval's chunk rule.

    Parameters
    ----------
    tags : sequence of str, length n
        Tags in IOB1, IOB2 or BIOES (the rule reads all three; ill-formed sequences are repaired as
        conlleval does).
    scheme : str, optional
        If given, tags whose prefix this scheme does not use are an error.

    Returns
    -------
    list of (start, end, type)
        Sorted, non-overlapping spans with `end` exclusive.

    Raises
    ------
    DataError
        For a tag that is not ``O`` or ``P-TYPE`` with a prefix of `scheme`.
    """
    scheme = None if scheme is None else check_scheme(scheme)
    spans: list[Span] = []
    start = -1
    prev_p, prev_t = "O", ""
    for i, (p, t) in enumerate(_checked(tags, scheme)):
        # conlleval's startOfChunk / endOfChunk, folded together.
        starts = p in "BS" or (p in "IE" and (prev_p in "OES" or prev_t != t))
        ends = start >= 0 and (starts or p == "O" or prev_p in "ES")
        if ends:
            spans.append((start, i, prev_t))
            start = -1
        if starts:
            start = i
        prev_p, prev_t = p, t
    if start >= 0:
        spans.append((start, len(tags), prev_t))
    return spans


def spans_to_tags(spans: Iterable[Span], n: int, scheme: str) -> list[str]:
    """Tags of length `n` in `scheme` for sorted, non-overlapping `spans` of ``(start, end, type)``."""
    scheme = check_scheme(scheme)
    tags = ["O"] * n
    prev_end, prev_type = 0, None
    for start, end, typ in spans:
        if not (prev_end <= start < end <= n):
            raise ValueError(f"spans must be sorted, non-overlapping and within 0..{n}; found {(start, end, typ)}")
        if scheme == "BIOES" and end - start == 1:
            tags[start] = f"S-{typ}"
        else:
            tags[start:end] = [f"I-{typ}"] * (end - start)
            if scheme == "IOB2" or scheme == "BIOES":
                tags[start] = f"B-{typ}"
            elif start == prev_end and typ == prev_type:  # IOB1: B only where I would merge two entities
                tags[start] = f"B-{typ}"
            if scheme == "BIOES":
                tags[end - 1] = f"E-{typ}"
        prev_end, prev_type = end, typ
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Convert `tags` from scheme `source` to `target` (any pair, including a scheme to itself).

    The conversion goes through entity spans, so the result is always well-formed in `target`, and
    ``convert(convert(t, a, b), b, a) == t`` for every well-formed `t` in `a`.
    """
    return spans_to_tags(tags_to_spans(tags, source), len(tags), target)


class TagIds:
    """`tags_to_spans` and `spans_to_tags` for many tag-id sequences at once, for one tag list.

    A tagger's decoder gives tag ids; reading their spans and writing them in the output scheme one
    sentence at a time, through strings, costs more than the network's dense layer. Here a batch is one
    flat array and each step is a few array operations; the results equal the per-sentence functions'.

    Parameters
    ----------
    tag_list : sequence of str, length K
        The tags in id order, checked here once (as `tags_to_spans` would check each tag of a sequence).
    scheme : str, optional
        The scheme of `tag_list`: a tag with a prefix it does not use is an error (a DataError).

    Notes
    -----
    conlleval's chunk rule as arrays over a flat sequence with prefix ``p`` and type ``y`` per position
    (``p', y'`` those of the previous position, ``O`` at the first position of a sentence):
    a span starts where ``p in BS or (p in IE and (p' in OES or y' != y))``, and ends before the first
    later position of its sentence where a span starts, ``p = O`` or ``p' in ES`` (or at the sentence end).
    """

    _CODES = "OBIES"

    def __init__(self, tag_list: Sequence[str], scheme: str | None = None):
        parts = _checked(tag_list, None if scheme is None else check_scheme(scheme))
        self.types = sorted({t for p, t in parts if p != "O"})
        type_code = {t: k for k, t in enumerate(self.types)}
        self._prefix = np.array([self._CODES.index(p) for p, _ in parts], dtype=np.int8)        # (K,)
        self._type = np.array([type_code.get(t, -1) for _, t in parts], dtype=np.int64)        # (K,) -1 for O
        n = max(len(self.types), 1)  # tag code = prefix * n + type; every O code names "O"
        self._names = np.array([p + "-" + t if p != "O" else "O" for p in self._CODES for t in (self.types or [""])],
                               dtype=object)
        self._n_types = n

    def spans(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The spans of B sequences of tag ids, concatenated.

        Parameters
        ----------
        ids : np.ndarray of int, shape (N,)
            The tag ids of the sequences one after another.
        lengths : np.ndarray of int, shape (B,)
            Their lengths (0 allowed), summing to N.

        Returns
        -------
        sequence, start, end, type : np.ndarray of int64, each (S,)
            Span k is ``tags_to_spans(...)`` span ``(start[k], end[k], types[type[k]])`` of sequence
            ``sequence[k]`` (positions within the sequence); spans in sequence order, then position order.
        """
        ids = np.asarray(ids, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        n = ids.shape[0]
        offsets = np.cumsum(lengths) - lengths                           # (B,) first position of each sequence
        first = np.zeros(n, dtype=bool)                                  # (N,) first position of a sequence
        first[offsets[lengths > 0]] = True
        p, y = self._prefix[ids], self._type[ids]                        # (N,) each
        prev_p, prev_y = np.empty_like(p), np.empty_like(y)
        prev_p[1:], prev_y[1:] = p[:-1], y[:-1]
        prev_p[first], prev_y[first] = 0, -1                             # O before every sequence
        O, B, I, E, S = range(5)
        inner = (p == I) | (p == E)
        starts = (p == B) | (p == S) | (inner & ((prev_p == O) | (prev_p == E) | (prev_p == S) | (prev_y != y)))
        bounds = np.flatnonzero(starts | first | (p == O) | (prev_p == E) | (prev_p == S))
        start = np.flatnonzero(starts)                                   # (S,) flat positions
        bounds = np.append(bounds, n)
        end = bounds[np.searchsorted(bounds, start, side="right")]       # (S,) first bound after each start
        sequence = np.searchsorted(offsets, start, side="right") - 1     # (S,)
        # a sequence of length 0 shares its offset with the next one: searchsorted picks the last of them
        return sequence, start - offsets[sequence], end - offsets[sequence], y[start]

    def tags(self, spans: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], lengths: np.ndarray,
             scheme: str) -> list[list[str]]:
        """The tags in `scheme` of B sequences of `lengths` with `spans` (as `spans` returns them).

        Each list equals ``spans_to_tags(spans of that sequence, length, scheme)``.
        """
        scheme = check_scheme(scheme)
        sequence, start, end, type_ = spans
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.cumsum(lengths) - lengths                           # (B,)
        n = int(lengths.sum())
        a, z = offsets[sequence] + start, offsets[sequence] + end        # (S,) flat start and end
        if np.any(z <= a) or np.any(a[1:] < z[:-1]) or np.any(end > lengths[sequence]):
            raise ValueError("spans must be sorted, non-overlapping and within their sequences")
        O, B, I, E, S = range(5)
        step = np.zeros(n + 1, dtype=np.int64)
        step[a] += 1
        step[z] -= 1
        inside = np.cumsum(step[:n]) > 0                                 # (N,)
        prefix = np.where(inside, I, O)                                  # (N,)
        kind = np.zeros(n, dtype=np.int64)                               # (N,) type code, 0 outside spans
        kind[inside] = np.repeat(type_, z - a)
        if scheme == "IOB1":  # B only where I would merge the span with the one just before it
            merge = np.zeros(a.shape[0], dtype=bool)
            merge[1:] = (a[1:] == z[:-1]) & (type_[1:] == type_[:-1]) & (sequence[1:] == sequence[:-1])
            prefix[a[merge]] = B
        else:
            prefix[a] = B
            if scheme == "BIOES":
                prefix[z - 1] = E
                prefix[a[z - a == 1]] = S
        names = self._names[prefix * self._n_types + kind].tolist()      # (N,) strings
        return [names[i:i + k] for i, k in zip(offsets.tolist(), lengths.tolist())]


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of a corpus from its tag sequences.

    Any ``E-``/``S-`` prefix means BIOES. Otherwise entities are counted by how they start: an ``I``
    after ``O``, at the start or after another type is IOB1 evidence, a ``B`` there is IOB2 evidence;
    the majority wins (a few annotation errors do not flip the answer). No entities at all gives IOB2.
    """
    iob1 = iob2 = 0
    for tags in tag_sequences:
        if isinstance(tags, str):
            raise TypeError("detect_scheme expects a sequence of tag sequences, not a single sequence of tags")
        prev_p, prev_t = "O", ""
        for tag in tags:
            p, t = split_tag(tag)
            if p in "ES":
                return "BIOES"
            fresh = prev_p == "O" or prev_t != t
            if fresh and p == "I":
                iob1 += 1
            elif fresh and p == "B":
                iob2 += 1
            prev_p, prev_t = p, t
    return "IOB1" if iob1 > iob2 else "IOB2"


# Decoding constraints -------------------------------------------------------------------------------

_START, _END = ("<start>", ""), ("<end>", "")


def _allowed(scheme: str, a: tuple[str, str], b: tuple[str, str]) -> bool:
    """May tag `a` (prefix, type) be followed by tag `b`? `a` may be _START, `b` may be _END."""
    (pa, ta), (pb, tb) = a, b
    if pa == "<start>" and pb == "<end>":
        return True
    same = ta == tb
    if scheme == "IOB1":
        if pb == "B":  # B-X only separates two X entities
            return pa in ("B", "I") and same
        return True
    if scheme == "IOB2":
        if pb == "I":
            return pa in ("B", "I") and same
        return True
    # BIOES: inside an entity only I-X / E-X of its own type may come; outside, only O / B / S.
    if pa in ("B", "I"):
        return pb in ("I", "E") and same
    return pb in ("<end>", "O", "B", "S")


def _parts(tag_list: Sequence[str], scheme: str) -> list[tuple[str, str] | None]:
    parts: list[tuple[str, str] | None] = []
    for tag in tag_list:
        if tag.startswith("<") and tag.endswith(">"):  # a special symbol such as <pad>: never decoded
            parts.append(None)
        elif (message := tag_error(tag, scheme)) is not None:
            raise NertagError(f"tag list does not fit its scheme: {message}")
        else:
            parts.append(split_tag(tag))
    return parts


def allowed_transitions(tag_list: Sequence[str], scheme: str) -> np.ndarray:
    """Which tag may follow which, for decoding that only produces well-formed sequences.

    Parameters
    ----------
    tag_list : sequence of str, length K
        The tag vocabulary in id order. Special symbols written ``<...>`` (e.g. ``<pad>``) are never
        allowed anywhere.
    scheme : str
        ``"IOB1"``, ``"IOB2"`` or ``"BIOES"``.

    Returns
    -------
    np.ndarray of bool, shape (K, K)
        ``allowed[i, j]`` is True when tag ``j`` may directly follow tag ``i``.

    Notes
    -----
    IOB2: ``I-X`` only after ``B-X`` or ``I-X``. IOB1: ``B-X`` only after ``I-X`` or ``B-X``.
    BIOES: after ``B-X``/``I-X`` only ``I-X``/``E-X``; after ``O``/``E-*``/``S-*`` only ``O``/``B-*``/``S-*``.
    As allennlp's ``allowed_transitions``. A sequence satisfies these matrices and `allowed_start` /
    `allowed_end` exactly when `convert` leaves it unchanged.
    """
    scheme = check_scheme(scheme)
    parts = _parts(tag_list, scheme)
    k = len(parts)
    allowed = np.zeros((k, k), dtype=bool)
    for i, a in enumerate(parts):
        for j, b in enumerate(parts):
            allowed[i, j] = a is not None and b is not None and _allowed(scheme, a, b)
    return allowed


def allowed_start(tag_list: Sequence[str], scheme: str) -> np.ndarray:
    """Bool (K,): which tags may start a sequence (no ``I-`` in IOB2, ``B-`` in IOB1, ``I-``/``E-`` in BIOES)."""
    scheme = check_scheme(scheme)
    return np.array([p is not None and _allowed(scheme, _START, p) for p in _parts(tag_list, scheme)], dtype=bool)


def allowed_end(tag_list: Sequence[str], scheme: str) -> np.ndarray:
    """Bool (K,): which tags may end a sequence (in BIOES not ``B-`` or ``I-``; anything in IOB1/IOB2)."""
    scheme = check_scheme(scheme)
    return np.array([p is not None and _allowed(scheme, p, _END) for p in _parts(tag_list, scheme)], dtype=bool)
