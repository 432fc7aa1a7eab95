"""Encode sentences to id arrays and group them into padded, time-major batches.

Arrays are time-major, ``(T, B)``, because the network runs over time steps; padding is 0 everywhere
(``<pad>`` in word and character vocabularies; for tags, padded positions must be masked with
`Batch.lengths` / `Batch.mask`). This is the boundary where lengths are validated: each `Batch` carries
its layout as a :class:`~nertag.net.padded.Padded` (lengths, mask, sort order), built once here and
trusted by every layer of the network.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from nertag.data.conll import Sentence
from nertag.data.schemes import convert
from nertag.data.vocab import Vocab
from nertag.errors import DataError
from nertag.net.padded import Padded


@dataclass(frozen=True, slots=True)
class Encoded:
    """One sentence as ids.

    Attributes
    ----------
    words : np.ndarray of int64, shape (n,)
    chars : np.ndarray of int64, shape (sum of word lengths,), or None
        The characters of all words, concatenated.
    char_lengths : np.ndarray of int64, shape (n,), or None
        Number of characters of each word.
    tags : np.ndarray of int64, shape (n,), or None
    """

    words: np.ndarray
    chars: np.ndarray | None = None
    char_lengths: np.ndarray | None = None
    tags: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)


def encode_sentences(
    sentences: Iterable[Sentence],
    words: Vocab,
    chars: Vocab | None = None,
    tags: Vocab | None = None,
    *,
    schemes: tuple[str, str] | None = None,
    path: str | None = None,
) -> list[Encoded]:
    """Turn sentences into id arrays.

    Parameters
    ----------
    sentences : iterable of Sentence
    words : Vocab
        Word vocabulary (unknown words become its unk id).
    chars : Vocab, optional
        Character vocabulary; without it `Encoded.chars` is None.
    tags : Vocab, optional
        Tag vocabulary; without it (or for untagged sentences) `Encoded.tags` is None.
    schemes : (str, str), optional
        ``(source, target)`` scheme conversion applied to the tags first, e.g. ``("IOB1", "BIOES")``.
    path : str, optional
        The file the sentences came from, for error messages.

    Raises
    ------
    DataError
        For a tag the tag vocabulary does not know, located by file and line.
    """
    encoded = []
    for sentence in sentences:
        item = encode_tokens(sentence.words, words, chars)
        tag_ids = None
        if tags is not None and sentence.tags is not None:
            sequence = sentence.tags if schemes is None else convert(sentence.tags, *schemes)
            try:
                tag_ids = tags.encode(sequence)
            except DataError as error:
                i = next(i for i, tag in enumerate(sequence) if tag not in tags)
                raise DataError(error.message, path, sentence.line + i if sentence.line else None) from None
        encoded.append(Encoded(item.words, item.chars, item.char_lengths, tag_ids))
    return encoded


MAX_WORD_CHARS = 100  # characters of a word the character encoder reads: its first and last 50


def spelling(token: str) -> str:
    """The characters of ``token`` the character encoder reads: all of them up to `MAX_WORD_CHARS`, else the
    first and the last half of that many (one 200 KB "word" must not make a batch of gigabytes)."""
    if len(token) <= MAX_WORD_CHARS:
        return token
    half = MAX_WORD_CHARS // 2
    return token[:half] + token[-half:]


def encode_tokens(tokens: Sequence[str], words: Vocab, chars: Vocab | None = None) -> Encoded:
    """One tokenised sentence as ids, without tags (e.g. for tagging it).

    Parameters
    ----------
    tokens : sequence of str, length n
    words : Vocab
    chars : Vocab, optional
        Without it `Encoded.chars` and `Encoded.char_lengths` are None.
    """
    char_ids = char_lengths = None
    if chars is not None:
        spelled = list(map(spelling, tokens))
        char_ids = chars.encode("".join(spelled))
        char_lengths = np.fromiter(map(len, spelled), dtype=np.int64, count=len(tokens))
    return Encoded(words.encode(tokens), char_ids, char_lengths)


@dataclass(frozen=True, slots=True)
class Batch:
    """Padded, time-major arrays for B sentences of at most T tokens and words of at most C characters.

    Attributes
    ----------
    words : np.ndarray of int64, shape (T, B)
    chars : np.ndarray of int64, shape (T, B, C), or None
        Character ids of each word, 0-padded; C is the longest word in the batch.
    char_lengths : np.ndarray of int64, shape (T, B), or None
        Characters per word, 0 at padded positions.
    tags : np.ndarray of int64, shape (T, B), or None
    lengths : np.ndarray of int64, shape (B,)
        Tokens per sentence.
    index : np.ndarray of int64, shape (B,)
        Position of each sentence in the list given to `make_batches`, to put results back in order.
    padded : Padded
        The layout of the (T, B) word positions: `lengths`, their mask and sort order.
    char_padded : Padded, or None
        The layout of the characters of the N real words, taken in the row-major order of
        ``padded.real``: lengths ``char_lengths[mask]`` (N,), padded to C.
    """

    words: np.ndarray
    chars: np.ndarray | None
    char_lengths: np.ndarray | None
    tags: np.ndarray | None
    lengths: np.ndarray
    index: np.ndarray
    padded: Padded
    char_padded: Padded | None

    @property
    def mask(self) -> np.ndarray:
        """Bool (T, B): True at real tokens, False at padding."""
        return self.padded.mask

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())


def collate(encoded: Sequence[Encoded], index: Sequence[int] | np.ndarray) -> Batch:
    """Pad the sentences ``encoded[i] for i in index`` into one `Batch`."""
    items = [encoded[i] for i in index]
    b = len(items)
    lengths = np.array([len(item) for item in items], dtype=np.int64)
    t = int(lengths.max(initial=0))
    words = np.zeros((t, b), dtype=np.int64)
    has_tags = b > 0 and all(item.tags is not None for item in items)
    tags = np.zeros((t, b), dtype=np.int64) if has_tags else None
    has_chars = b > 0 and all(item.chars is not None for item in items)
    chars = char_lengths = None
    if has_chars:
        c = max((int(item.char_lengths.max(initial=0)) for item in items), default=0)
        chars = np.zeros((t, b, c), dtype=np.int64)
        char_lengths = np.zeros((t, b), dtype=np.int64)
    for j, item in enumerate(items):
        n = len(item)
        words[:n, j] = item.words
        if tags is not None:
            tags[:n, j] = item.tags
        if chars is not None:
            char_lengths[:n, j] = item.char_lengths
            # Scatter the concatenated characters into the (n, C) block of this sentence in one step.
            inside = np.arange(chars.shape[2])[None, :] < item.char_lengths[:, None]  # (n, C)
            block = chars[:n, j]  # (n, C) view
            block[inside] = item.chars
    padded = Padded.check(lengths, t, b)
    char_padded = None if chars is None else Padded.check(char_lengths[padded.mask], chars.shape[2],
                                                          padded.n_real)
    return Batch(words, chars, char_lengths, tags, lengths, np.asarray(index, dtype=np.int64), padded, char_padded)


def pad(encoded: Sequence[Encoded]) -> Batch:
    """Pad a list of encoded sentences, in their order, into one `Batch` (e.g. for tagging them)."""
    return collate(encoded, np.arange(len(encoded)))


def pad_tokens(sentences: Sequence[Sequence[str]], words: Vocab, chars: Vocab | None = None) -> Batch:
    """Encode and pad non-empty tokenised sentences, in their order, into one `Batch` (for tagging them).

    The same batch as ``pad([encode_tokens(s, words, chars) for s in sentences])``, built with one
    vocabulary lookup per batch and array scatters instead of a loop over sentences.

    Parameters
    ----------
    sentences : sequence of B sequences of str, each of 1..T tokens
    words : Vocab
    chars : Vocab, optional
        Without it `Batch.chars` and `Batch.char_lengths` are None.
    """
    b = len(sentences)
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=b)          # (B,)
    t = int(lengths.max(initial=0))
    padded = Padded.check(lengths, t, b)
    tokens = list(itertools.chain.from_iterable(sentences))                      # N tokens, sentence by sentence
    n = len(tokens)
    word_ids = np.zeros((t, b), dtype=np.int64)                                  # (T, B)
    word_ids.T[padded.mask.T] = words.encode(tokens)     # the mask of (B, T), read row by row: sentence order
    chars_ids = char_lengths = char_padded = None
    if chars is not None:
        tokens = list(map(spelling, tokens))                                     # (long words: their ends)
        token_lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=n)  # (N,) characters per token
        c = int(token_lengths.max(initial=0))
        first = np.cumsum(lengths) - lengths                                     # (B,) first token of each
        column = np.repeat(np.arange(b), lengths)                                # (N,) batch column of each token
        rows = (np.arange(n) - first[column]) * b + column                       # (N,) rows of a (T * B) reshape
        char_lengths = np.zeros((t, b), dtype=np.int64)                          # (T, B)
        char_lengths.reshape(-1)[rows] = token_lengths
        owner = np.repeat(np.arange(n), token_lengths)                           # (sum of lengths,) token of each char
        place = np.arange(owner.size) - (np.cumsum(token_lengths) - token_lengths)[owner]
        chars_ids = np.zeros((t, b, c), dtype=np.int64)                          # (T, B, C)
        chars_ids.reshape(t * b, c)[rows[owner], place] = chars.encode("".join(tokens))
        char_padded = Padded.check(char_lengths[padded.mask], c, padded.n_real)
    return Batch(word_ids, chars_ids, char_lengths, None, lengths, np.arange(b, dtype=np.int64), padded, char_padded)


def make_batches(
    encoded: Sequence[Encoded],
    batch_size: int,
    rng: np.random.Generator | None = None,
    bucket: bool = True,
    bucket_batches: int = 50,
) -> Iterator[Batch]:
    """Group sentences into batches.

    Parameters
    ----------
    encoded : sequence of Encoded
    batch_size : int
        Sentences per batch (the last batch of a chunk may hold fewer).
    rng : np.random.Generator, optional
        Shuffles for training. Without it, batches are consecutive slices in input order (for tagging
        and evaluation), whatever `bucket` says.
    bucket : bool, default True
        When shuffling, sort sentences by length within chunks of ``bucket_batches * batch_size``
        shuffled sentences, so each batch holds similar lengths and carries little padding; the order
        of the batches is then shuffled.
    bucket_batches : int, default 50
        Batches per bucketing chunk: larger means less padding but less randomness.

    Yields
    ------
    Batch
        Every sentence exactly once; the same `rng` state gives the same batches.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    n = len(encoded)
    if rng is None:
        for start in range(0, n, batch_size):
            yield collate(encoded, np.arange(start, min(start + batch_size, n)))
        return
    order = rng.permutation(n)
    if bucket:
        lengths = np.array([len(item) for item in encoded], dtype=np.int64)
        chunk = batch_size * bucket_batches
        groups = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            part = part[np.argsort(lengths[part], kind="stable")]
            groups += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    else:
        groups = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    for g in rng.permutation(len(groups)):
        yield collate(encoded, groups[g])
