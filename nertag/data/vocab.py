"""Vocabularies: token <-> id maps for words, characters and tags, saved as plain JSON.

Word and character vocabularies reserve id 0 for padding (``<pad>``) and id 1 for unknown tokens
(``<unk>``); a token the vocabulary does not know, in its own form or lowercased, encodes as 1. Tag vocabularies have neither
(``Vocab.for_tags``): an unknown tag is an error, and padded positions of a tag batch hold id 0, which
is an ordinary tag (``O`` when present) that callers must mask out using the sentence lengths.

Tokens are normalised before lookup, both when the vocabulary is built and when it encodes: optionally
lowercased, and optionally with every digit replaced by 0 (so ``1996`` and ``2024`` share an entry).
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from nertag.errors import DataError, excerpt

PAD = "<pad>"
UNK = "<unk>"
_DIGIT = re.compile(r"\d")
_KNOWN_MAX = 1 << 18  # distinct tokens whose ids a vocabulary remembers


def normalise_digits(token: str) -> str:
    """Replace every decimal digit (any script) with ``0``."""
    return _DIGIT.sub("0", token)


class Vocab:
    """An immutable token <-> id map with counts.

    Parameters
    ----------
    tokens : sequence of str
        The (already normalised) tokens, in id order after the special symbols.
    counts : sequence of int, optional
        Training count of each token in `tokens` (0 for tokens added without being counted, e.g. from
        pretrained embeddings). Used for singleton replacement and embedding coverage.
    lowercase, normalise_digits : bool
        How tokens are normalised before lookup.
    min_count : int
        Recorded for reference: the minimum count used to build the vocabulary.
    pad, unk : str or None
        Special symbols at ids 0 and 1 (`unk` at id 0 when there is no `pad`); None leaves them out.

    Attributes
    ----------
    pad_id, unk_id : int or None
    """

    def __init__(
        self,
        tokens: Sequence[str],
        counts: Sequence[int] | None = None,
        *,
        lowercase: bool = False,
        normalise_digits: bool = False,
        min_count: int = 1,
        pad: str | None = PAD,
        unk: str | None = UNK,
    ):
        specials = [s for s in (pad, unk) if s is not None]
        self._tokens = specials + list(tokens)
        self._index = {token: i for i, token in enumerate(self._tokens)}
        if len(self._index) != len(self._tokens):
            duplicates = sorted(t for t, n in Counter(self._tokens).items() if n > 1)
            raise ValueError(f"vocabulary tokens must be unique; repeated: {duplicates[:5]}")
        counts = [0] * len(tokens) if counts is None else list(counts)
        if len(counts) != len(tokens):
            raise ValueError(f"expected one count per token ({len(tokens)}), found {len(counts)}")
        self._counts = np.array([0] * len(specials) + counts, dtype=np.int64)
        self.lowercase, self.normalise_digits, self.min_count = lowercase, normalise_digits, min_count
        self.pad, self.unk = pad, unk
        self.pad_id = None if pad is None else 0
        self.unk_id = None if unk is None else self._index[unk]
        self._known: dict[str, int] = {}  # token -> id, filled by encode
        self._char_table = np.full(0, -1, dtype=np.int64)  # code point -> id (-1: not looked up yet)

    # Construction ---------------------------------------------------------------------------------

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        *,
        lowercase: bool = False,
        normalise_digits: bool = False,
        min_count: int = 1,
        max_size: int | None = None,
        pad: str | None = PAD,
        unk: str | None = UNK,
    ) -> Vocab:
        """Build from raw token counts: normalise, merge, drop rare tokens, order by count then token.

        Parameters
        ----------
        counts : mapping of str to int
            Counts of raw (unnormalised) tokens.
        min_count : int, default 1
            Tokens seen fewer times (after normalisation) are left out and will encode as unknown.
        max_size : int, optional
            Keep at most this many of the most frequent tokens (not counting special symbols).
        """
        vocab = cls((), lowercase=lowercase, normalise_digits=normalise_digits, pad=None, unk=None)
        merged: Counter[str] = Counter()
        for token, count in counts.items():
            merged[vocab.normalise(token)] += count
        for special in (pad, unk):
            merged.pop(special, None)
        kept = sorted((item for item in merged.items() if item[1] >= min_count), key=lambda item: (-item[1], item[0]))
        kept = kept[:max_size] if max_size is not None else kept
        return cls(
            [t for t, _ in kept],
            [n for _, n in kept],
            lowercase=lowercase,
            normalise_digits=normalise_digits,
            min_count=min_count,
            pad=pad,
            unk=unk,
        )

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], **options) -> Vocab:
        """Count the tokens of `sequences` and build with `from_counts` (same keyword options).

        A word vocabulary: ``Vocab.build(s.words for s in sentences, lowercase=True)``; a character
        vocabulary: ``Vocab.build(word for s in sentences for word in s.words)`` (a word is a sequence of
        characters).
        """
        counts: Counter[str] = Counter()
        for sequence in sequences:
            counts.update(sequence)
        return cls.from_counts(counts, **options)

    @classmethod
    def for_tags(cls, tags: Iterable[str]) -> Vocab:
        """A tag vocabulary: exactly `tags` in the given order, no padding or unknown symbol.

        Typically ``Vocab.for_tags(scheme_tags(types, "BIOES"))``, which puts ``O`` at id 0.
        """
        return cls(list(tags), pad=None, unk=None)

    def extend(self, tokens: Iterable[str]) -> Vocab:
        """A new vocabulary with the (normalised) `tokens` it lacks appended, with count 0."""
        new: dict[str, None] = {}
        for token in tokens:
            token = self.normalise(token)
            if token not in self._index:
                new[token] = None
        specials = (self.pad is not None) + (self.unk is not None)
        return Vocab(
            self._tokens[specials:] + list(new),
            self._counts[specials:].tolist() + [0] * len(new),
            **self._options(),
        )

    def _options(self) -> dict:
        return dict(
            lowercase=self.lowercase,
            normalise_digits=self.normalise_digits,
            min_count=self.min_count,
            pad=self.pad,
            unk=self.unk,
        )

    # Lookup ---------------------------------------------------------------------------------------

    def normalise(self, token: str) -> str:
        """The form of `token` this vocabulary stores and looks up."""
        if self.lowercase:
            token = token.lower()
        if self.normalise_digits and not token.isalpha():  # letters only (most words): no digit to replace
            token = _DIGIT.sub("0", token)
        return token

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: str) -> bool:
        return self.normalise(token) in self._index

    def __getitem__(self, i: int) -> str:
        return self._tokens[i]

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, special symbols included."""
        return list(self._tokens)

    @property
    def counts(self) -> np.ndarray:
        """Int64 (V,): training count per id (0 for special symbols and added tokens)."""
        return self._counts.copy()

    def index(self, token: str) -> int:
        """The id of `token` (or of its lowercased form, when only that is known), or `unk_id`
        (a DataError if there is no unknown symbol)."""
        i = self._index.get(self.normalise(token), self.unk_id)
        if i == self.unk_id and self.unk_id is not None:
            i = self._index.get(self.normalise(token.lower()), i)
        if i is None:
            raise DataError(self._unknown_message(token))
        return i

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Int64 (n,) ids of `tokens` (a string encodes as its characters).

        Ids are remembered per token (per character of a string), so a token seen before costs one dict
        lookup: `normalise` and the lowercase fallback of `index` run once per distinct token.
        """
        if isinstance(tokens, str):
            return self._encode_characters(tokens)
        if not isinstance(tokens, Sequence):
            tokens = list(tokens)
        known = self._known.get
        ids = [known(token) for token in tokens]
        if None in ids:
            ids = [self._remember(token) if i is None else i for token, i in zip(tokens, ids)]
        return np.array(ids, dtype=np.int64)

    def _lookup(self, token: str) -> int | None:
        """The id `index` gives `token`, or None when it is unknown and there is no unknown symbol."""
        index, unk = self._index, self.unk_id
        i = index.get(self.normalise(token), unk)
        if i == unk and unk is not None:
            # An unknown form falls back to its lowercased form ("Germany" -> "germany", from lowercased
            # pretrained vectors).
            i = index.get(self.normalise(token.lower()), i)
        return i

    def _remember(self, token: str) -> int:
        i = self._lookup(token)
        if i is None:
            raise DataError(self._unknown_message(token))
        if len(self._known) >= _KNOWN_MAX:  # a stream of ever new tokens: start again rather than grow
            self._known.clear()
        self._known[token] = i
        return i

    def _encode_characters(self, text: str) -> np.ndarray:
        """Int64 (len(text),) ids of the characters of `text`, through a table indexed by code point.

        A character is looked up in its normalised form, without the lowercase fallback of `index`
        (which may turn one character into two).
        """
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (n,)
        if codes.size == 0:
            return np.zeros(0, dtype=np.int64)
        table = self._char_table
        top = int(codes.max())
        if top >= table.size:
            grown = np.full(max(top + 1, 2 * table.size, 256), -1, dtype=np.int64)
            grown[:table.size] = table
            table = self._char_table = grown
        ids = table[codes]
        if (ids < 0).any():
            for code in set(codes[ids < 0].tolist()):  # not np.unique: it imports numpy.ma (10-30 ms)
                i = self._index.get(self.normalise(chr(code)), self.unk_id)
                table[code] = -1 if i is None else i
            ids = table[codes]
            if (ids < 0).any():  # no unknown symbol
                raise DataError(self._unknown_message(chr(codes[np.argmax(ids < 0)])))
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of `ids`."""
        tokens = self._tokens
        return [tokens[i] for i in ids]

    def _unknown_message(self, token: str) -> str:
        known = ", ".join(self._tokens[:12]) + (", ..." if len(self._tokens) > 12 else "")
        what = "tags" if self.pad is None else "tokens"
        return f"expected one of the {len(self._tokens)} known {what} ({known}), found {excerpt(token)}"

    # Training -------------------------------------------------------------------------------------

    def replace_singletons(self, ids: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
        """Replace ids of tokens seen once in training by `unk_id`, each with probability `p`.

        Parameters
        ----------
        ids : np.ndarray of int, any shape
            E.g. a (T, B) word batch; padding and unknown ids are never singletons.
        p : float
            Replacement probability (Lample et al. use 0.5).
        rng : np.random.Generator

        Returns
        -------
        np.ndarray
            A new array of the same shape; `ids` is left alone.

        References
        ----------
        Lample et al. (2016), Neural architectures for named entity recognition, section 4.3.
        """
        if self.unk_id is None:
            raise ValueError("replace_singletons needs a vocabulary with an unknown symbol")
        singleton = self._counts[ids] == 1
        return np.where(singleton & (rng.random(ids.shape) < p), self.unk_id, ids)

    # Persistence ----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        """A plain, JSON-serialisable dict; `from_json` restores an equal vocabulary."""
        specials = (self.pad is not None) + (self.unk is not None)
        return {
            "tokens": self._tokens[specials:],
            "counts": self._counts[specials:].tolist(),
            **self._options(),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Vocab:
        """Restore a vocabulary saved with `to_json`."""
        missing = [key for key in ("tokens", "counts", "pad", "unk") if key not in data]
        if missing:
            raise DataError(f"expected a vocabulary with keys tokens, counts, pad, unk; missing {', '.join(missing)}")
        options = {key: data[key] for key in ("lowercase", "normalise_digits", "min_count") if key in data}
        return cls(data["tokens"], data["counts"], pad=data["pad"], unk=data["unk"], **options)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_known": {}, "_char_table": np.full(0, -1, dtype=np.int64)}  # caches stay

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocab)
            and self._tokens == other._tokens
            and np.array_equal(self._counts, other._counts)
            and self._options() == other._options()
        )

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens, lowercase={self.lowercase}, normalise_digits={self.normalise_digits})"
