"""Pretrained word vectors from GloVe or word2vec text files (optionally gzipped), matched to a vocabulary.

Formats: GloVe writes ``word v1 ... vD`` per line; word2vec's text format adds a first line ``count D``.
A word may contain spaces (GloVe 840B has some): the last D fields are the vector, the rest the word.

A vocabulary token is matched to the first pretrained word (files list frequent words first) with, in
order of preference, the same form, the same lowercased form, or the same lowercased digit-normalised
form (``1996`` -> ``0000``) -- so a cased vocabulary finds vectors in lowercased GloVe, and a
digit-normalised vocabulary finds them for numbers.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from nertag.data._lines import iter_lines
from nertag.data.vocab import PAD, UNK, Vocab, normalise_digits
from nertag.errors import DataError
from nertag.errors import excerpt

LEVELS = ("exact", "lowercase", "digits")


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary the pretrained vectors cover.

    Attributes
    ----------
    types, tokens : int
        Vocabulary entries (special symbols excluded) and their total training count.
    types_found, tokens_found : dict of str to int
        Entries and training tokens matched at each level of `LEVELS`.
    """

    types: int
    tokens: int
    types_found: dict[str, int]
    tokens_found: dict[str, int]

    @property
    def type_rate(self) -> float:
        return sum(self.types_found.values()) / max(self.types, 1)

    @property
    def token_rate(self) -> float:
        return sum(self.tokens_found.values()) / max(self.tokens, 1)

    def __str__(self) -> str:
        levels = ", ".join(f"{self.types_found[level]:,} {level}" for level in LEVELS)
        text = (
            f"pretrained vectors for {sum(self.types_found.values()):,} of {self.types:,} word types "
            f"({self.type_rate:.2%}; {levels})"
        )
        return text + (f", covering {self.token_rate:.2%} of training tokens" if self.tokens else "")


@dataclass(frozen=True)
class Embeddings:
    """Vectors aligned with a vocabulary.

    Attributes
    ----------
    vocab : Vocab
        The vocabulary the rows follow (extended, if words were added).
    matrix : np.ndarray of float32, shape (V, D)
        Row ``i`` is the vector of token ``i``; the padding row is zero; rows without a pretrained vector
        are zero, or uniform in ``[-sqrt(3/D), sqrt(3/D)]`` when an `rng` was given.
    found : np.ndarray of bool, shape (V,)
        Rows filled from the file.
    coverage : Coverage
    """

    vocab: Vocab
    matrix: np.ndarray
    found: np.ndarray
    coverage: Coverage

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]


def _keys(token: str) -> tuple[str, str, str]:
    """The keys `token` is looked up by, one per level of `LEVELS`: as is, lowercased, digit-normalised."""
    lower = token.lower()
    return token, lower, normalise_digits(lower)


def load_embeddings(
    path: str | os.PathLike,
    vocab: Vocab | None = None,
    *,
    extend_with: Iterable[str] | None = None,
    extend_with_file: bool = False,
    dim: int | None = None,
    rng: np.random.Generator | None = None,
) -> Embeddings:
    """Read pretrained vectors for the tokens of `vocab`.

    Parameters
    ----------
    path : str or os.PathLike
        GloVe or word2vec text file, plain or gzipped (detected from the content, not the name).
    vocab : Vocab, optional
        Tokens to find vectors for. Without it, every word of the file is kept, in file order, in a new
        vocabulary with ``<pad>`` and ``<unk>``.
    extend_with : iterable of str, optional
        Words (typically of the dev and test data) to add to `vocab` if the file has a vector for them,
        so that they are not unknown at test time (Lample et al. 2016).
    extend_with_file : bool
        Also add every word of the file to `vocab` (after `extend_with`), in the same single pass.
    dim : int, optional
        Expected vector size; a file with another size is an error.
    rng : np.random.Generator, optional
        Initialises rows without a pretrained vector (otherwise they are zero).

    Returns
    -------
    Embeddings

    Raises
    ------
    DataError
        For a line that is not a word and D numbers, a word2vec header that disagrees with the file, or
        a file without vectors.
    """
    vectors = _VectorFile(path, dim)
    if vocab is None:
        found = [_first_vectors(vectors), {}, {}]
        return _assemble(Vocab([word for word in found[0] if word not in (PAD, UNK)]), found, vectors.dim, rng)
    specials = {vocab.pad, vocab.unk}
    candidates = {} if extend_with is None else _new_tokens(vocab, extend_with)
    wanted = _wanted_keys([*(t for t in vocab.tokens if t not in specials), *candidates])
    found, file_words = _matching_vectors(vectors, wanted, keep_every_key=extend_with_file)
    return _assemble(_extended(vocab, candidates, file_words, found), found, vectors.dim, rng)


def _extended(
    vocab: Vocab, candidates: dict[str, None], file_words: list[str], found: list[dict[str, np.ndarray]]
) -> Vocab:
    """`vocab` plus the `candidates`, then the new `file_words`, that have a vector in `found`, in that order."""
    candidates = dict(candidates)
    for word in file_words:  # after extend_with's words, in file order
        if word not in (PAD, UNK) and (token := vocab.normalise(word)) not in vocab:
            candidates.setdefault(token)
    if candidates:
        vocab = vocab.extend(t for t in candidates if any(k in found[lv] for lv, k in enumerate(_keys(t))))
    return vocab


def _new_tokens(vocab: Vocab, words: Iterable[str]) -> dict[str, None]:
    """The normalised `words` that `vocab` lacks, once each in first-seen order (a dict as an ordered set)."""
    return {t: None for t in map(vocab.normalise, words) if t not in vocab}


def _wanted_keys(tokens: Iterable[str]) -> list[set[str]]:
    """The lookup keys of `tokens` at each level of `LEVELS`: what the file is searched for."""
    wanted: list[set[str]] = [set(), set(), set()]
    for token in tokens:
        for level, key in enumerate(_keys(token)):
            wanted[level].add(key)
    return wanted


class _VectorFile:
    """The vector lines of a GloVe or word2vec text file, checked as they are read.

    Iterating yields ``(line_number, parts)`` for every vector line, where ``parts`` is the word followed
    by its `dim` numbers as strings (parsed only for the words that are kept, see `_vector`). The word2vec
    header and blank lines are skipped. After a complete iteration `dim` is the vector size.

    Parameters
    ----------
    path : str or os.PathLike
        The file, plain or gzipped.
    dim : int, optional
        Expected vector size; a header or first vector of another size is an error.

    Raises
    ------
    DataError
        While iterating: for a line that is not a word and `dim` numbers, a size other than `dim`, a header
        count that disagrees with the file, or a file without vectors.
    """

    def __init__(self, path: str | os.PathLike, dim: int | None = None):
        self.path, self.name, self.dim = path, os.fspath(path), dim

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        name, dim = self.name, self.dim
        header = None
        n_vectors = 0
        for number, line in iter_lines(self.path):
            if number == 1 and (header := _word2vec_header(line)) is not None:
                self.dim = dim = _check_dim(dim, header[1], name, number, "the header says")
                continue
            if not line.strip():
                continue
            if n_vectors == 0:  # the first vector fixes the size
                self.dim = dim = _check_dim(dim, len(line.rstrip().split(" ")) - 1, name, number, "found")
            # Split off the last `dim` fields: the rest is the word, which may contain spaces (GloVe 840B).
            parts = line.rstrip().rsplit(" ", dim)
            if len(parts) != dim + 1 or not parts[0] or (" " in parts[0] and _is_number(parts[0].rsplit(" ", 1)[1])):
                raise DataError(f"expected a word and {dim} numbers, found {len(line.split())} fields", name, number)
            n_vectors += 1
            yield number, parts
        if header is not None and header[0] != n_vectors:
            raise DataError(f"expected {header[0]:,} vectors as its header says, found {n_vectors:,}", name)
        if n_vectors == 0:
            raise DataError("expected word vectors, found none", name)


def _word2vec_header(line: str) -> tuple[int, int] | None:
    """``(count, size)`` if `line` is a word2vec header (two whole numbers), else None."""
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _first_vectors(vectors: _VectorFile) -> dict[str, np.ndarray]:
    """Every word of the file with its first vector, in file order (files list frequent words first)."""
    found: dict[str, np.ndarray] = {}
    for number, parts in vectors:
        if parts[0] not in found:
            found[parts[0]] = _vector(parts, vectors.name, number)
    return found


def _matching_vectors(
    vectors: _VectorFile, wanted: list[set[str]], keep_every_key: bool
) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """The first vector of each wanted key, at each level of `LEVELS`, in one pass over the file.

    Parameters
    ----------
    vectors : _VectorFile
    wanted : list of 3 sets of str
        The keys sought at each level (see `_wanted_keys`).
    keep_every_key : bool
        Keep every key of every word of the file (for ``extend_with_file``), wanted or not.

    Returns
    -------
    found : list of 3 dicts of str to np.ndarray of float32, shape (D,)
        Per level, each key matched and its vector; one array is shared by the levels of a word.
    file_words : list of str
        Every word of the file in file order when `keep_every_key`, else empty.
    """
    found: list[dict[str, np.ndarray]] = [{}, {}, {}]
    file_words: list[str] = []
    for number, parts in vectors:
        word = parts[0]
        keys = _keys(word)
        vector = None  # parsed only when some key is kept: most lines of a large file match nothing
        if keep_every_key:
            file_words.append(word)
        for level in range(3):
            key = keys[level]
            if (keep_every_key or key in wanted[level]) and key not in found[level]:
                if vector is None:
                    vector = _vector(parts, vectors.name, number)
                found[level][key] = vector
    return found, file_words


def _check_dim(expected: int | None, actual: int, name: str, number: int, what: str) -> int:
    if expected is not None and expected != actual:
        raise DataError(f"expected vectors of size {expected}, {what} {actual}", name, number)
    return actual


def _vector(parts: list[str], name: str, number: int) -> np.ndarray:
    try:
        vector = np.array(parts[1:], dtype=np.float32)
    except ValueError:
        bad = next(p for p in parts[1:] if not _is_number(p))
        raise DataError(f"expected numbers after the word {excerpt(parts[0])}, found {excerpt(bad)}", name,
                        number) from None
    if not np.isfinite(vector).all():
        bad = next(p for p, v in zip(parts[1:], vector) if not np.isfinite(v))
        raise DataError(f"expected finite numbers after the word {excerpt(parts[0])}, found {excerpt(bad)}"
                        f"{' (too large for float32)' if _is_number(bad) and 'n' not in bad.lower() else ''}",
                        name, number)
    return vector


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _assemble(
    vocab: Vocab, found: list[dict[str, np.ndarray]], dim: int, rng: np.random.Generator | None
) -> Embeddings:
    """Fill one row per vocabulary token from the best match, and count the coverage."""
    size = len(vocab)
    if rng is None:
        matrix = np.zeros((size, dim), dtype=np.float32)
    else:
        scale = np.sqrt(3.0 / dim)
        matrix = rng.uniform(-scale, scale, size=(size, dim)).astype(np.float32)
    hit = np.zeros(size, dtype=bool)
    counts = vocab.counts
    types_found = dict.fromkeys(LEVELS, 0)
    tokens_found = dict.fromkeys(LEVELS, 0)
    specials = {vocab.pad, vocab.unk}
    for i, token in enumerate(vocab.tokens):
        if token in specials:
            continue
        for level, key in enumerate(_keys(token)):
            vector = found[level].get(key)
            if vector is not None:
                matrix[i], hit[i] = vector, True
                types_found[LEVELS[level]] += 1
                tokens_found[LEVELS[level]] += int(counts[i])
                break
    if vocab.pad_id is not None:
        matrix[vocab.pad_id] = 0.0
    n_types = size - len({vocab.pad, vocab.unk} - {None})
    coverage = Coverage(n_types, int(counts.sum()), types_found, tokens_found)
    return Embeddings(vocab, matrix, hit, coverage)
