"""Raw text for tagging: one sentence per line, split into tokens that remember where they came from.

The tokenisers live in :mod:`nertag.data.tokenize` (``"whitespace"`` for text already tokenised,
``"ptb"`` for raw text), the sentence splitter for paragraphs in :mod:`nertag.data.sentences`; their
public names are importable from here too. Every token keeps its character offsets, so
``line[start:end]`` is its text.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nertag.data._lines import Source, iter_lines
from nertag.data.sentences import TextSpan, sentence_tokens, split_sentences
from nertag.data.tokenize import ABBREVIATIONS, TOKENIZERS, Token, tokenize

__all__ = ["ABBREVIATIONS", "TOKENIZERS", "TextLine", "TextSpan", "Token", "read_text", "sentence_tokens",
           "split_sentences", "tokenize"]


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of raw text and its tokens (none for a blank line)."""

    text: str
    tokens: list[Token]
    line: int

    @property
    def words(self) -> list[str]:
        return [token.text for token in self.tokens]


def read_text(source: Source, mode: str = "whitespace") -> Iterator[TextLine]:
    """Stream the lines of a raw-text file, each tokenised with `tokenize`; blank lines are kept.

    Raises
    ------
    DataError
        For bytes that are not UTF-8, naming the file and line.
    """
    if mode not in TOKENIZERS:
        raise ValueError(f"unknown tokeniser {mode!r}; expected one of {', '.join(TOKENIZERS)}")
    for number, text in iter_lines(source):
        yield TextLine(text, tokenize(text, mode), number)
