"""Raw text for tagging: one sentence per line, split into tokens that remember where they came from.

Two tokenisers. ``"whitespace"`` (the default) splits on whitespace only, for text that is already
tokenised. ``"rules"`` also splits off punctuation, roughly as CoNLL-2003 was tokenised: clitics
(``Germany 's``, ``do n't``) and single punctuation marks become tokens of their own, while
abbreviations (``U.S.``), numbers (``1,000.5``, ``10:30``, ``1996-08-22``), hyphenated words and
names like ``O'Neill`` stay whole. Every token keeps its character offsets, so ``line[start:end]``
is its text.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from nertag.data._lines import Source, iter_lines

_WHITESPACE = re.compile(r"\S+")
_APOSTROPHE = "[’']"
_CLITIC = r"(?i:s|re|ve|ll|d|m)\b"  # what follows the apostrophe in 's 're 've 'll 'd 'm
_RULES = re.compile(
    rf"""
      (?:[^\W\d_]\.){{2,}}                       # abbreviations: U.S. e.g.
    | \d+(?:[.,:/-]\d+)+                         # numbers, times, dates: 1,000.5 10:30 1996-08-22
    | \w+(?=(?i:n{_APOSTROPHE}t)\b)              # "do" of "don't"
    | (?i:n{_APOSTROPHE}t)\b                      # "n't"
    | {_APOSTROPHE}{_CLITIC}                      # 's 're 've 'll 'd 'm
    | \w+(?:-\w+|{_APOSTROPHE}(?!{_CLITIC})\w+)*  # words, hyphenated words, O'Neill
    | \S                                         # any other character: punctuation, symbols
    """,
    re.VERBOSE,
)
TOKENIZERS = ("whitespace", "rules")


class Token(NamedTuple):
    """A token and its character offsets in the line: ``line[start:end] == text``."""

    text: str
    start: int
    end: int


def tokenize(line: str, mode: str = "whitespace") -> list[Token]:
    """Split one line into tokens with offsets.

    Parameters
    ----------
    line : str
    mode : {"whitespace", "rules"}
        Split on whitespace only, or also split off punctuation and clitics (see the module docstring).

    Returns
    -------
    list of Token
    """
    if mode == "whitespace":
        pattern = _WHITESPACE
    elif mode == "rules":
        pattern = _RULES
    else:
        raise ValueError(f"unknown tokeniser {mode!r}; expected one of {', '.join(TOKENIZERS)}")
    return [Token(m.group(), m.start(), m.end()) for m in pattern.finditer(line)]


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
