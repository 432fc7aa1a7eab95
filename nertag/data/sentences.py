"""Sentence splitting for paragraphs: where one line of raw text holds several sentences.

A sentence ends after a run of ``.``, ``!``, ``?`` or an ellipsis, together with the closing quotes and
brackets written right after it (``"Yes." He``), when whitespace and then a capital letter, a digit or a
dash (``-- Reuters``) follow, maybe behind opening quotes or brackets (``. "We``, ``. (The``). The run is read off the ``"ptb"`` tokens, so a
period that belongs to an abbreviation or an initial (``Dr.``, ``U.S.``, ``P. Smith``, ``Wash.``) is
part of a word and ends nothing; neither does a decimal point or a period inside a URL.

The one exception: an abbreviation that often closes a sentence (``Inc.``, ``Corp.``, ``U.S.``, ...,
`SENTENCE_FINAL`) does end one when a word that usually opens a sentence follows (`OPENERS`: ``The``,
``He``, ``But``, ...): ``He works for Apple Inc. The company ...``. Titles and initials never do.
Tokenising that sentence on its own then gives the period to the sentence, as CoNLL-2003 does
(``Apple Inc .``).
"""
from __future__ import annotations

from typing import NamedTuple

from nertag.data.tokenize import Token, ptb_tokenize, tokenize

#: Abbreviations that may close a sentence (besides the dotted ones of two or more letters, ``U.S.``).
SENTENCE_FINAL = frozenset("Inc Corp Co Cos Ltd Bros Jr Sr etc".split())
#: Words that open sentences far more often than they follow an abbreviation inside one.
OPENERS = frozenset("""
    The A An He She It They We You There This That These Those His Her Its Their Our My But And So Yet
    However In On At For If When While After Before As Since Although Meanwhile Also Still Then
""".split())
_TERMINATORS = frozenset(".!?…")
_CLOSING = frozenset("\"'’”)]}")
_OPENING = frozenset("\"'‘“([{")


class TextSpan(NamedTuple):
    """A piece of a line and its character offsets: ``line[start:end] == text``."""

    text: str
    start: int
    end: int


def split_sentences(line: str) -> list[TextSpan]:
    """The sentences of one line of raw text, with offsets into it.

    Parameters
    ----------
    line : str
        A paragraph (or any text; line breaks in it are whitespace like any other).

    Returns
    -------
    list of TextSpan
        In order; each starts at its first and ends after its last non-space character, and together
        they hold every non-space character of `line` (none for a blank line).
    """
    tokens = ptb_tokenize(line)
    sentences, first = [], 0
    for i in range(len(tokens) - 1):
        if _ends_sentence(tokens, i):
            sentences.append(_span(line, tokens[first], tokens[i]))
            first = i + 1
    if first < len(tokens):
        sentences.append(_span(line, tokens[first], tokens[-1]))
    return sentences


def sentence_tokens(line: str, mode: str = "ptb") -> list[list[Token]]:
    """The tokens of each sentence of `split_sentences`, tokenised on its own, with offsets into `line`."""
    return [[Token(t.text, t.start + s.start, t.end + s.start) for t in tokenize(s.text, mode)]
            for s in split_sentences(line)]


def _span(line: str, first: Token, last: Token) -> TextSpan:
    return TextSpan(line[first.start:last.end], first.start, last.end)


def _ends_sentence(tokens: list[Token], i: int) -> bool:
    """Whether a sentence ends after token ``i``, which has a successor."""
    if tokens[i + 1].start == tokens[i].end or not _starts_sentence(tokens, i + 1):
        return False
    following = tokens[i + 1].text
    while i > 0 and tokens[i].text in _CLOSING and tokens[i - 1].end == tokens[i].start:
        i -= 1  # back over the closing marks written right after the ending: "Yes." He
    text = tokens[i].text
    if set(text) <= _TERMINATORS:
        return True
    return _final_abbreviation(text) and following in OPENERS


def _starts_sentence(tokens: list[Token], k: int) -> bool:
    """Whether token ``k`` may open a sentence: a capital, a digit, a dash (``-- Reuters``), or opening
    quotes and brackets written right before one of these."""
    while tokens[k].text in _OPENING:
        if k + 1 == len(tokens) or tokens[k + 1].start != tokens[k].end:
            return False  # a quote standing alone closes rather than opens
        k += 1
    first = tokens[k].text[0]
    return first.isupper() or first.isdigit() or first in "-–—"


def _final_abbreviation(text: str) -> bool:
    """``Inc.``, ``U.S.``: an abbreviation that may close a sentence (titles and initials may not)."""
    if not text.endswith(".") or "-" in text:
        return False
    word = text[:-1]
    return word in SENTENCE_FINAL or word.title() in SENTENCE_FINAL or ("." in word and len(word) >= 3)
