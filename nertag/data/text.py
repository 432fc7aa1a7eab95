"""Raw text for tagging: one sentence per line, split into tokens that remember where they came from.

The tokenisers live in :mod:`nertag.data.tokenize` (``"whitespace"`` for text already tokenised,
``"ptb"`` for raw text), the sentence splitter for paragraphs in :mod:`nertag.data.sentences`; their
public names are importable from here too. Every token keeps its character offsets, so
``line[start:end]`` is its text.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from nertag.data._lines import Source, iter_lines
from nertag.data.sentences import TextSpan, sentence_tokens, split_sentences
from nertag.data.tokenize import ABBREVIATIONS, TOKENIZERS, Token, tokenize

__all__ = ["ABBREVIATIONS", "TOKENIZERS", "RawLine", "TextLine", "TextSpan", "Token", "read_text", "sentence_tokens",
           "split_sentences", "text_line", "tokenize"]


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of raw text and its tokens (none for a blank line).

    ``breaks`` are the indices of the tokens that open a sentence after the first, when the line is a
    paragraph split into sentences (`read_text` with ``sentences=True``): each sentence is tagged on its
    own, the results stay one record per line.
    """

    text: str
    tokens: list[Token]
    line: int
    breaks: tuple[int, ...] = ()

    @property
    def words(self) -> list[str]:
        return [token.text for token in self.tokens]


class RawLine(NamedTuple):
    """A line of text not tokenised yet, and how to tokenise it: where it is tagged (`tokenized`), perhaps in
    a worker process (a few bytes to send, where its tokens would cost more to pickle than to make).

    `words_guess` (its whitespace-separated chunks) stands in for its length when sentences are sorted
    before tokenising: as many as its tokens for tokenised text, a few fewer for raw text.
    """

    text: str
    line: int
    mode: str = "ptb"
    sentences: bool = False

    def tokenized(self) -> TextLine:
        return text_line(self.text, self.mode, self.sentences, self.line)

    @property
    def words_guess(self) -> int:
        return len(self.text.split())


def read_text(source: Source, mode: str = "ptb", sentences: bool = False, *, raw: bool = False
              ) -> Iterator[TextLine] | Iterator[RawLine]:
    """Stream the lines of a raw-text file, each tokenised with `tokenize`; blank lines are kept.

    With ``sentences=True`` each line is split into sentences first (`sentence_tokens`), noted as
    ``TextLine.breaks``; offsets stay relative to the line. ``raw=True`` yields `RawLine` instead, tokenised
    where it is tagged.

    Raises
    ------
    DataError
        For bytes that are not UTF-8, naming the file and line.
    """
    if mode not in TOKENIZERS:
        raise ValueError(f"unknown tokeniser {mode!r}; expected one of {', '.join(TOKENIZERS)}")
    if raw:
        for number, text in iter_lines(source):
            yield RawLine(text, number, mode, sentences)
        return
    for number, text in iter_lines(source):
        yield text_line(text, mode, sentences, number)


def text_line(text: str, mode: str = "ptb", sentences: bool = False, number: int = 0) -> TextLine:
    """The `TextLine` of one line of text: tokenised, and split into sentences if asked (see `read_text`)."""
    if not sentences:
        return TextLine(text, tokenize(text, mode), number)
    pieces = sentence_tokens(text, mode)
    starts = itertools.accumulate(len(piece) for piece in pieces[:-1])
    return TextLine(text, [t for piece in pieces for t in piece], number, tuple(starts))
