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
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from nertag.data._lines import iter_lines
from nertag.data.vocab import PAD, UNK, Vocab, normalise_digits
from nertag.errors import DataError

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
    name = os.fspath(path)
    wanted: list[set[str]] | None = None
    candidates: dict[str, None] = {}
    if vocab is not None:
        wanted = [set(), set(), set()]
        specials = {vocab.pad, vocab.unk}
        tokens = [t for t in vocab.tokens if t not in specials]
        if extend_with is not None:
            candidates = {t: None for t in map(vocab.normalise, extend_with) if t not in vocab}
        for token in (*tokens, *candidates):
            for level, key in enumerate(_keys(token)):
                wanted[level].add(key)

    keep_every_key = vocab is not None and extend_with_file  # every word of the file is wanted
    file_words: list[str] = []
    # One pass over the file; a vector is only parsed when some wanted key matches its word.
    found: list[dict[str, np.ndarray]] = [{}, {}, {}]
    header = None
    n_vectors = 0
    for number, line in iter_lines(path):
        if number == 1:
            fields = line.split()
            if len(fields) == 2 and all(f.isdigit() for f in fields):  # word2vec header: count, size
                header = (int(fields[0]), int(fields[1]))
                dim = _check_dim(dim, header[1], name, number, "the header says")
                continue
        if not line.strip():
            continue
        if n_vectors == 0:  # the first vector fixes the size
            dim = _check_dim(dim, len(line.rstrip().split(" ")) - 1, name, number, "found")
        parts = line.rstrip().rsplit(" ", dim)
        if len(parts) != dim + 1 or not parts[0] or (" " in parts[0] and _is_number(parts[0].rsplit(" ", 1)[1])):
            raise DataError(f"expected a word and {dim} numbers, found {len(line.split())} fields", name, number)
        n_vectors += 1
        word = parts[0]
        if wanted is None:
            if word not in found[0]:
                found[0][word] = _vector(parts, name, number)
            continue
        keys = _keys(word)
        vector = None
        if keep_every_key:
            file_words.append(word)
        for level in range(3):
            key = keys[level]
            if (keep_every_key or key in wanted[level]) and key not in found[level]:
                if vector is None:
                    vector = _vector(parts, name, number)
                found[level][key] = vector
    if header is not None and header[0] != n_vectors:
        raise DataError(f"expected {header[0]:,} vectors as its header says, found {n_vectors:,}", name)
    if n_vectors == 0:
        raise DataError("expected word vectors, found none", name)

    if vocab is None:
        return _assemble(Vocab([word for word in found[0] if word not in (PAD, UNK)]), found, dim, rng)
    for word in file_words:  # after extend_with's words, in file order
        if word not in (PAD, UNK) and (token := vocab.normalise(word)) not in vocab:
            candidates.setdefault(token)
    if candidates:
        vocab = vocab.extend(t for t in candidates if any(k in found[lv] for lv, k in enumerate(_keys(t))))
    return _assemble(vocab, found, dim, rng)


def _check_dim(expected: int | None, actual: int, name: str, number: int, what: str) -> int:
    if expected is not None and expected != actual:
        raise DataError(f"expected vectors of size {expected}, {what} {actual}", name, number)
    return actual


def _vector(parts: list[str], name: str, number: int) -> np.ndarray:
    try:
        return np.array(parts[1:], dtype=np.float32)
    except ValueError:
        bad = next(p for p in parts[1:] if not _is_number(p))
        raise DataError(f"expected numbers after the word {parts[0]!r}, found {bad!r}", name, number) from None


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
