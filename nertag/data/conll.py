"""Read and write CoNLL files: one token per line, columns of features, sentences separated by blank lines.

What the reader accepts, because real corpora do all of it: columns split on any whitespace, or on TAB
only when the file is TAB-separated (its first token line holds a TAB; tokens may then contain spaces);
``-DOCSTART-`` lines that separate documents anywhere in the file (WikiGold puts one at the very end);
several blank lines in a row, or lines of whitespace only (WNUT-17 separates sentences with a lone TAB);
CRLF line ends; a UTF-8 byte-order mark; no final newline; gzip-compressed files.

What it skips with a warning (file and line of the first, a count at the end): a token line whose word is
empty (the Broad Twitter Corpus has ``<TAB>O`` lines), and a stray comment line before a sentence (a line
starting with ``#`` whose columns differ from the token line after it: CoNLL-U, GermEval).

What it rejects, as a `DataError` naming file and line: bytes that are not UTF-8, a line whose column
count differs from the first line of its sentence, too few columns for the word and tag columns asked
for, a tag that is not ``O`` or ``P-TYPE`` in the declared scheme, and a file without any sentence.

The writer reproduces what was read: the delimiter, and each ``-DOCSTART-`` line as it was.
"""
from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from nertag.data import schemes
from nertag.data._lines import Source, iter_lines, source_name
from nertag.errors import DataError, NertagError, excerpt

DOCSTART = "-DOCSTART-"


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a CoNLL file.

    Attributes
    ----------
    words : list of str, length n
        The word column.
    tags : list of str, length n, or None
        The tag column, or None when reading words only (``tag_col=None``).
    columns : list of list of str, n rows
        Every original column of every token, so that `write_conll` can reproduce the file.
    doc : int
        Index of the document (0-based; documents are separated by ``-DOCSTART-`` lines).
    line : int
        1-based line number of the first token; token ``i`` is on line ``line + i`` (unless a skipped
        line falls between).
    docstart : str or None
        The ``-DOCSTART-`` line, as read, that opened the document before this sentence, if one did:
        writers reproduce it rather than invent one.
    """

    words: list[str]
    tags: list[str] | None
    columns: list[list[str]]
    doc: int = 0
    line: int = 0
    docstart: str | None = None

    def __len__(self) -> int:
        return len(self.words)


def is_docstart(line: str) -> bool:
    """Is `line` a document separator: ``-DOCSTART-`` alone or followed by columns?"""
    return line.startswith(DOCSTART) and (len(line) == len(DOCSTART) or line[len(DOCSTART)].isspace())


def sniff_delimiter(source: Source) -> str | None:
    """The column delimiter the reader will use: ``"\\t"`` for a TAB-separated file, None for whitespace."""
    for _, line in iter_lines(source):
        if line.strip() and not is_docstart(line):
            return "\t" if "\t" in line else None
    return None


def read_conll(
    source: Source,
    word_col: int = 0,
    tag_col: int | None = -1,
    scheme: str | None = None,
    delimiter: str | None = "auto",
    *,
    empty_ok: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL file, checking it as it goes.

    Parameters
    ----------
    source : str, os.PathLike or file object
        Path (plain or gzipped) or open file, binary or text.
    word_col : int, default 0
        Column of the word (negative counts from the end).
    tag_col : int or None, default -1
        Column of the tag, or None to read words only (unlabelled input for tagging).
    scheme : str, optional
        Declared tag scheme (``"IOB1"``, ``"IOB2"``, ``"BIOES"``): tags with other prefixes are an error.
        When None, any of the prefixes B, I, E, S is accepted.
    delimiter : str or None, default "auto"
        ``"auto"`` uses TAB if the first token line holds one and any whitespace otherwise;
        None forces whitespace, ``"\\t"`` forces TAB.
    empty_ok : bool, default False
        Accept a file without sentences (input to tag), instead of calling it an error (data to learn from).
    warn : callable, optional
        Receives the warnings about lines skipped (a token line with an empty word, as in the Broad Twitter
        Corpus): one naming the first such line, one with their count at the end. Default: standard error.

    Yields
    ------
    Sentence
        In file order. Time and memory are linear in the file size; nothing is read ahead.

    Raises
    ------
    DataError
        For malformed input, naming the file and line and saying what was expected and what came.
    """
    name = source_name(source)
    scheme = None if scheme is None else schemes.check_scheme(scheme)
    warn = warn or _to_stderr
    comments: list[int] = []
    lines = _without_comments(iter_lines(source), name, comments, warn)
    skipped: list[int] = []
    try:
        n_sentences, n_lines = yield from _checked_sentences(lines, name, word_col, tag_col, scheme, delimiter,
                                                             skipped, warn)
    finally:
        if len(skipped) > 1:
            warn(f"{name}: skipped {len(skipped)} token lines with an empty word")
        if len(comments) > 1:
            warn(f"{name}: skipped {len(comments)} comment lines before sentences")
    if n_sentences == 0 and not empty_ok:
        what = "an empty file" if n_lines == 0 else f"{n_lines} lines without a token"
        raise DataError(f"expected sentences of one token per line, found {what}", name)


def _without_comments(lines: Iterable[tuple[int, str]], name: str, comments: list[int],
                      warn: Callable[[str], None]) -> Iterator[tuple[int, str]]:
    """The numbered lines but for comment lines before sentences (CoNLL-U's ``# sent_id = 1``, GermEval's
    ``#<TAB>source``): a line starting with ``#`` where a sentence starts whose column count differs from the
    token line after it. A ``#`` token (``#<TAB>O`` in tweets) has the columns of the lines around it and stays.
    ``comments`` receives the numbers of the lines skipped; ``warn`` hears of the first.
    """
    at_start, held = True, []
    for number, line in lines:
        if at_start and line[:1] == "#":
            held.append((number, line))  # decided by the first line after it that does not start with #
            continue
        blank = not line.strip() or (line[:1] == "-" and is_docstart(line))
        for held_number, held_line in held:
            if not blank and _width(held_line, line) != _width(line, line):
                if not comments:
                    warn(f"{name}:{held_number}: skipped a comment line before a sentence (it starts with # and "
                         f"has other columns than the token line after it)")
                comments.append(held_number)
            else:
                yield held_number, held_line
        held = []
        at_start = blank
        yield number, line
    yield from held


def _width(line: str, reference: str) -> int:
    """Columns of ``line`` as a file like ``reference`` (TAB-separated if it holds a TAB) splits them."""
    return len(line.split("\t" if "\t" in reference else None))


def _checked_sentences(
    lines: Iterable[tuple[int, str]],
    name: str,
    word_col: int,
    tag_col: int | None,
    scheme: str | None,
    delimiter: str | None,
    skipped: list[int],
    warn: Callable[[str], None],
) -> Generator[Sentence, None, tuple[int, int]]:
    """Group numbered lines into sentences and documents, checking each token line as it is read.

    Parameters
    ----------
    lines : iterable of (int, str)
        1-based line numbers and lines without their line ends, as `iter_lines` yields them.
    name : str
        The file name for error messages.
    word_col, tag_col, scheme, delimiter
        As in `read_conll`, with `scheme` already checked; ``"auto"`` is settled by the first token line.
    skipped : list
        Receives the numbers of the token lines skipped for an empty word; ``warn`` hears of the first.

    Yields
    ------
    Sentence
        Each sentence once the blank line, ``-DOCSTART-`` line or end of input after it is read.

    Returns
    -------
    (n_sentences, n_lines) : tuple of int
        For `read_conll`'s error about a file without sentences.
    """
    known_tags: set[str] = set()  # tags already validated, so each distinct tag is checked once
    rows: list[list[str]] = []
    first = width = number = 0  # line and column count of the current sentence's first token
    doc, doc_used, n_sentences = 0, False, 0
    opening: str | None = None  # the -DOCSTART- line waiting for the first sentence of its document
    for number, line in lines:
        if not line.strip() or (line[:1] == "-" and is_docstart(line)):
            if rows:
                yield _sentence(rows, word_col, tag_col, doc, first, opening)
                rows, doc_used, n_sentences, opening = [], True, n_sentences + 1, None
            if line.strip():
                if doc_used:  # a -DOCSTART- after some sentences opens the next document
                    doc, doc_used = doc + 1, False
                opening = line
            continue
        if delimiter == "auto":
            delimiter = "\t" if "\t" in line else None
        row = line.split(delimiter)
        # The checks every token line goes through stay inline: a function call per line costs ~5% of the
        # reading time. Checking line by line (not per sentence) reports the first bad line of the file.
        if not rows:
            first, width = number, len(row)
            _check_width(width, word_col, tag_col, delimiter, name, number)
        elif len(row) != width:
            message = f"expected {width} columns like line {first} where this sentence starts, found {len(row)}"
            raise DataError(message, name, number)
        if not row[word_col]:  # a token without a word: nothing to tag or learn, the rest of the file is fine
            if not skipped:
                warn(f"{name}:{number}: skipped a token line with an empty word (column {word_col % width + 1})")
            skipped.append(number)
            continue
        if tag_col is not None and (tag := row[tag_col]) not in known_tags:
            _check_tag(tag, scheme, tag_col % width + 1, name, number)
            known_tags.add(tag)
        rows.append(row)
    if rows:
        yield _sentence(rows, word_col, tag_col, doc, first, opening)
        n_sentences += 1
    return n_sentences, number


def _check_tag(tag: str, scheme: str | None, column: int, name: str, number: int) -> None:
    """A tag must be ``O`` or ``P-TYPE`` with a prefix P of `scheme` (1-based `column` for the message)."""
    message = schemes.tag_error(tag, scheme)
    if message:
        raise DataError(f"{message} in column {column}", name, number)


def _sentence(rows: list[list[str]], word_col: int, tag_col: int | None, doc: int, line: int,
              docstart: str | None) -> Sentence:
    """The `Sentence` of the token `rows` (lists of columns) whose first token is on `line` of document `doc`."""
    tags = None if tag_col is None else [row[tag_col] for row in rows]
    return Sentence([row[word_col] for row in rows], tags, rows, doc, line, docstart)


def _to_stderr(message: str) -> None:
    print(f"nertag: warning: {message}", file=sys.stderr)


def _check_width(width: int, word_col: int, tag_col: int | None, delimiter: str | None, name: str, number: int):
    """The first line of a sentence must have the columns asked for."""
    sep = "TAB" if delimiter == "\t" else "whitespace"
    for what, col in (("word", word_col), ("tag", tag_col)):
        if col is not None and not -width <= col < width:
            raise DataError(
                f"expected a {what} in column {col + 1 if col >= 0 else col}, found only {width} "
                f"{sep}-separated column{'s' if width > 1 else ''}",
                name,
                number,
            )
    if tag_col is not None and word_col % width == tag_col % width:
        raise DataError(
            f"expected a word column and a tag column, found {width} {sep}-separated column"
            f"{'s' if width > 1 else ''} (to read words without tags, use tag_col=None)",
            name,
            number,
        )


def _writable(field: str, delimiter: str) -> bool:
    """Would `field` read back as one column? Not empty, and free of the delimiter (any whitespace for a space).

    With TAB, anything without a TAB or line break reads back: spaces inside a token, a token that is one
    space, an empty feature column.
    """
    if delimiter == " ":
        return field.split() == [field]
    return delimiter not in field and "\n" not in field and "\r" not in field


def load_conll(
    source: Source,
    word_col: int = 0,
    tag_col: int | None = -1,
    scheme: str | None = None,
    delimiter: str | None = "auto",
    *,
    warn: Callable[[str], None] | None = None,
) -> list[Sentence]:
    """All sentences of a CoNLL file as a list; see `read_conll` for the parameters."""
    # A list per token is a lot of young containers: left on, the cyclic garbage collector rescans them
    # over and over and makes loading CoNLL-2003 train 2-4x slower. Nothing here creates cycles.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return list(read_conll(source, word_col, tag_col, scheme, delimiter, warn=warn))
    finally:
        if enabled:
            gc.enable()


def write_conll(
    sentences: Iterable[Sentence],
    file: str | os.PathLike | IO[str],
    predicted: Iterable[Sequence[str]] | None = None,
    *,
    delimiter: str = " ",
    docstart: str | None = "read",
    closing: str | None = None,
) -> int:
    """Write sentences in CoNLL format, their original columns plus an optional predicted-tag column.

    Reading the output with `read_conll` gives back the same words, tags, columns and document indices.

    Parameters
    ----------
    sentences : iterable of Sentence
    file : path or text file object
        Written as UTF-8 with ``\\n`` line ends.
    predicted : iterable of sequences of str, optional
        One tag sequence per sentence, appended as the last column; a ``-DOCSTART-`` line gets ``O`` there,
        so that every line has as many columns as conlleval.pl requires (and it counts no entity there).
    delimiter : str, default " "
        Column separator; use ``"\\t"`` when tokens contain spaces.
    docstart : {"read", "start", "between", None}, default "read"
        ``"read"`` writes each sentence's ``docstart`` line (as read) and invents none; ``"start"`` also
        writes one in CoNLL-2003's form before every other document, ``"between"`` before every other
        document but the first (as in the WikiGold split); None writes none (document indices are lost).
    closing : str, optional
        A ``-DOCSTART-`` line to write after the last sentence, as WikiGold ends (`Layout.closing`).

    Returns
    -------
    int
        The number of sentences written.

    Raises
    ------
    NertagError
        If a field contains the delimiter (or whitespace, for a space delimiter), or a predicted sequence
        does not match its sentence in length.
    """
    if docstart not in ("read", "start", "between", None):
        raise ValueError(f"docstart must be 'read', 'start', 'between' or None, not {docstart!r}")
    if isinstance(file, (str, os.PathLike)):
        with open(file, "w", encoding="utf-8", newline="\n") as out:
            return write_conll(sentences, out, predicted, delimiter=delimiter, docstart=docstart, closing=closing)
    predictions = iter(predicted) if predicted is not None else None
    count, prev_doc = 0, None
    for sentence in sentences:
        extra = None if predictions is None else _prediction_for(sentence, count + 1, predictions)
        if docstart and sentence.doc != prev_doc:
            if sentence.docstart is not None:
                file.write(docstart_line(sentence.docstart, extra is not None, delimiter) + "\n\n")
            elif docstart == "start" or (docstart == "between" and prev_doc is not None):
                file.write(_invented_docstart(sentence, extra is not None, delimiter))
        prev_doc = sentence.doc
        # Formatted whole before it is written: a field that cannot be written leaves no half sentence.
        file.write(_sentence_block(sentence, count + 1, extra, delimiter))
        count += 1
    if predictions is not None and next(predictions, None) is not None:
        raise NertagError(f"more predicted tag sequences than the {count} sentences")
    if closing is not None:
        file.write(docstart_line(closing, predictions is not None, delimiter) + "\n")
    return count


def docstart_line(line: str, with_prediction: bool, delimiter: str) -> str:
    """A ``-DOCSTART-`` line as read, with the predicted column ``O`` when the token lines gain one."""
    return line + delimiter + "O" if with_prediction else line


def _prediction_for(sentence: Sentence, number: int, predictions: Iterator[Sequence[str]]) -> Sequence[str]:
    """The next predicted tag sequence, which must have one tag per token of `sentence` (1-based `number`)."""
    extra = next(predictions, None)
    if extra is None or len(extra) != len(sentence.columns):
        got = "no tags" if extra is None else f"{len(extra)} tags"
        raise NertagError(f"sentence {number} has {len(sentence.columns)} tokens but {got} were predicted")
    return extra


def _invented_docstart(sentence: Sentence, with_prediction: bool, delimiter: str) -> str:
    """A ``-DOCSTART-`` line (and the blank line after it) for the document of `sentence`, which read none.

    In CoNLL-2003's form ``-DOCSTART- -X- -X- O``, as wide as the token lines (with the predicted column)
    because tools such as conlleval.pl expect every line to have the same number of columns; one column
    for a sentence without tokens.
    """
    width = len(sentence.columns[0]) + with_prediction if sentence.columns else 1
    return delimiter.join([DOCSTART] + ["-X-"] * (width - 2) + ["O"] * (width > 1)) + "\n\n"


def _sentence_block(sentence: Sentence, number: int, extra: Sequence[str] | None, delimiter: str) -> str:
    """The token lines of `sentence` (1-based `number`), with `extra` as a last column, and a blank line.

    Raises
    ------
    NertagError
        If a field would not read back as one column (see `_writable`).
    """
    lines = []
    for i, row in enumerate(sentence.columns):
        fields = row if extra is None else [*row, extra[i]]
        line = delimiter.join(fields)
        if not all(_writable(field, delimiter) for field in fields) or not line.strip():
            advice = ("contain whitespace or are empty (a TAB-separated file keeps spaces inside tokens)"
                      if delimiter == " " else f"contain the delimiter {delimiter!r} or a line break, or are blank")
            raise NertagError(f"cannot write sentence {number} token {i + 1}: the fields {excerpt(repr(fields))} {advice}")
        lines.append(line)
    return "\n".join(lines) + "\n\n"
