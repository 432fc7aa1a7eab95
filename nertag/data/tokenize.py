"""Tokenisers for raw text: tokens that remember where they came from (``line[start:end] == text``).

``"whitespace"`` splits on whitespace only, for text that is already tokenised.

``"ptb"`` tokenises raw text the way CoNLL-2003 was tokenised (the Penn Treebank convention, as the
corpus itself shows it, checked on eng.train and eng.testa):

=====================================  ===========================================================
rule                                   examples (tokens separated by spaces)
=====================================  ===========================================================
punctuation splits off                 ``London ,``  ``( Sweden )``  ``" yes . "``  ``5 %``  ``$ 10``
runs of the same mark stay one token   ``...``  ``--``
clitics split off                      ``Germany 's``  ``they 're``  ``I 'm``  ``do n't``  ``ca n't``
apostrophes inside names stay          ``O'Neill``  ``d'Italia``  ``Gov't``
numbers stay whole                     ``1,000.5``  ``10:30``  ``1/2``  ``.596``  ``+44``  ``10th``
hyphenated words stay whole            ``Stratford-upon-Avon``  ``1996-08-22``  ``7,215-yard``
abbreviations keep their period        ``U.S.``  ``a.m.``  ``P. Smith``  ``Inc.``  ``Dr.``  ``vs.``
... also inside hyphenated words       ``Wash.-based``  ``U.S.-led``
... but not at the end of a sentence   ``Apple Inc .``  ``the U.S .`` (the corpus gives the period
                                       to the sentence: it never ends a sentence with ``Inc.``)
a list number at the start of a line   ``1. Anna Berg``
currency prefixes                      ``US$ 10``  ``C$ 5``  ``HK$``
URLs and e-mail addresses              ``http://www.example.org/news``  ``anna.berg@example.com``
``&`` between letters                  ``S&P``  ``AT&T``
=====================================  ===========================================================

"The end of a sentence" is the end of the line, give or take closing quotes: `tokenize` reads one
sentence per line (:mod:`nertag.data.sentences` splits paragraphs). Abbreviations are the dotted ones
(``U.S.``), single capital initials (``P.``) and the words of `ABBREVIATIONS`; any other word loses its
period to the punctuation rule.
"""
from __future__ import annotations

import re
from typing import NamedTuple

TOKENIZERS = ("whitespace", "rules", "ptb")  # "rules" is the former name of "ptb", kept as an alias

#: Words written with a period that is part of the word (the capitalised form; all-capitals also match).
ABBREVIATIONS = frozenset("""
    Mr Mrs Ms Messrs Dr Prof Rev Hon Gen Lt Col Maj Capt Cmdr Adm Sgt Cpl Gov Sen Rep Pres Supt Insp
    St Mt Ft Ave Blvd Rd Jr Sr Inc Corp Co Cos Ltd Bros Assn Dept Univ No Nos Vol Fig Ch Art
    Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Tues Wed Thu Thur Thurs Fri
    Ala Ariz Ark Calif Colo Conn Del Fla Ga Ill Ind Kan Kans Ky La Md Mass Mich Minn Miss Mo Mont Neb
    Nev Okla Ont Ore Pa Penn Tenn Tex Va Vt Wash Wis Wyo Que Alta Sask
""".split())
#: Abbreviations written in lower case.
LOWER_ABBREVIATIONS = frozenset("vs v etc approx cf al vol no nos pp ca esp".split())


class Token(NamedTuple):
    """A token and its character offsets in the line: ``line[start:end] == text``."""

    text: str
    start: int
    end: int


def _alternation(words) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


_APOSTROPHE = "['’]"
_CLITIC_TAIL = r"(?i:s|re|ve|ll|d|m)(?!\w)"
_CLITIC = rf"{_APOSTROPHE}{_CLITIC_TAIL}"                  # 's 're 've 'll 'd 'm
_NOT = rf"(?i:n{_APOSTROPHE}t)(?!\w)"                     # n't
_KNOWN = _alternation(ABBREVIATIONS | {w.upper() for w in ABBREVIATIONS} | LOWER_ABBREVIATIONS)
# One piece of a hyphenated word; the word pieces never swallow a clitic.
_PIECE = rf"""(?:
      (?:[^\W\d_]\.){{2,}}                                 # dotted abbreviations: U.S. a.m. F.C.
    | (?<![\w.])(?:{_KNOWN})\.                             # known abbreviations: Inc. Wash. vs.
    | (?<![\w.])[^\W\d_a-z]\.(?!\w)                        # initials: P. Smith
    | \d+(?:[.,:/]\d+)*[^\W_]*                             # numbers: 1,000.5 10:30 1/2 10th 0.4m
    | \w+(?:(?:&|{_APOSTROPHE}(?!{_CLITIC_TAIL}))\w+)*     # words: O'Neill S&P
)"""
_PTB = re.compile(
    rf"""
      (?:https?://|ftp://|www\.)[^\s"<>]*[^\s"<>.,;:!?'’”)\]}}]        # URLs, less trailing punctuation
    | \w[\w.+-]*@\w[\w-]*(?:\.\w[\w-]*)+                             # e-mail addresses
    | \w+(?={_NOT})                                                  # "do" of "don't"
    | {_NOT} | {_CLITIC}
    | (?<![\w+])\+\d+(?:[.,:/-]\d+)*                                 # signed numbers, phone codes: +44
    | (?<![\w.])\.\d+                                                # .596
    | (?<!\w)[A-Z]{{1,3}}\$                                            # US$ C$ HK$
    | {_PIECE}(?:-{_PIECE})*(?:-(?=\s|$))?                           # (hyphenated) words and numbers
    | \.{{2,}} | -{{2,}} | …                                            # ... --
    | \S                                                             # any other character
    """,
    re.VERBOSE,
)
_WHITESPACE = re.compile(r"\S+")
_ALNUM = re.compile(r"[A-Za-z0-9]+\Z")                    # a chunk that is one "ptb" token whatever its context
_ORDINAL = re.compile(r"\s*(\d{1,3}[.=])(?=\s|$)")        # a rank opening the line: "1. Name", "6= Name"
_CLOSING = frozenset("\"'’”)]")
_ABBREVIATION_END = re.compile(r"[^\W\d_]\.\Z")           # a word ending in its own period


def tokenize(line: str, mode: str = "whitespace") -> list[Token]:
    """Split one line into tokens with offsets.

    Parameters
    ----------
    line : str
        One sentence (for "ptb": the end of the line is the end of the sentence).
    mode : {"whitespace", "rules", "ptb"}
        Split on whitespace only, or as CoNLL-2003 was tokenised (see the module docstring; "rules" is
        another name of "ptb").

    Returns
    -------
    list of Token
        In order, not overlapping; together they hold every non-space character of `line`.
    """
    if mode == "whitespace":
        return [Token(m.group(), m.start(), m.end()) for m in _WHITESPACE.finditer(line)]
    if mode not in ("ptb", "rules"):
        raise ValueError(f"unknown tokeniser {mode!r}; expected one of {', '.join(TOKENIZERS)}")
    return ptb_tokenize(line)


def ptb_tokenize(line: str) -> list[Token]:
    """The ``"ptb"`` tokens of one line (see the module docstring)."""
    tokens = []
    position = 0
    ordinal = _ORDINAL.match(line)
    if ordinal:
        tokens.append(Token(ordinal.group(1), ordinal.start(1), ordinal.end(1)))
        position = ordinal.end(1)
    tokens += _ptb_tokens(line, position)
    # The sentence takes the period of a sentence-final abbreviation: "Apple Inc." -> "Apple Inc ."
    last = len(tokens) - 1
    while last > 0 and tokens[last].text in _CLOSING:
        last -= 1
    if last >= (1 if ordinal else 0) and _ABBREVIATION_END.search(tokens[last].text):
        text, start, end = tokens[last]
        tokens[last:last + 1] = [Token(text[:-1], start, end - 1), Token(".", end - 1, end)]
    return tokens


def _ptb_tokens(line: str, position: int) -> list[Token]:
    """``_PTB``'s tokens of ``line[position:]``, whitespace chunk by chunk.

    No token crosses whitespace, and the rules look around a chunk only at the whitespace (or line end)
    beside it, so each chunk can be matched on its own: its tokens depend on its text only. Most chunks are
    plain ASCII words or numbers, which are one token under every rule, and skip the regex; the others
    (punctuation, hyphenated words, abbreviations) repeat, and are matched once (`_CHUNK_CACHE`).
    """
    tokens = []
    append, alnum, cache = tokens.append, _ALNUM.match, _CHUNK_CACHE
    for chunk in _WHITESPACE.finditer(line, position):
        text = chunk.group()
        start = chunk.start()
        if alnum(text):
            append(Token(text, start, chunk.end()))
            continue
        pieces = cache.get(text)
        if pieces is None:
            if len(cache) >= _CHUNK_CACHE_SIZE:
                cache.clear()  # bounded memory on endless streams of new chunks
            pieces = cache[text] = [(m.group(), m.start(), m.end()) for m in _PTB.finditer(text)]
        for piece, begin, end in pieces:
            append(Token(piece, start + begin, start + end))
    return tokens


_CHUNK_CACHE: dict[str, list[tuple[str, int, int]]] = {}   # chunk text -> its tokens, offsets in the chunk
_CHUNK_CACHE_SIZE = 100_000
