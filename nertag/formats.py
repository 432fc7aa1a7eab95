"""The files the commands read and write besides models: CoNLL laid out as it came, tagged output.

A CoNLL file is read once. While :func:`nertag.data.conll.read_conll` parses it, a :class:`LineTap`
passes its lines on unchanged and notes its :class:`Layout` (the column separator, where the
``-DOCSTART-`` lines are), so that what is written back looks like what was read.

Tagged sentences are written in one of ``OUTPUT_FORMATS`` by :func:`format_tagged`, between
:func:`header` and :func:`footer` (an HTML page's head and end; nothing for the other formats).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from .data._lines import SplitLines, byte_lines, open_binary, readable
from .data.conll import DOCSTART, Sentence, docstart_line, is_docstart, load_conll
from .data.schemes import convert
from .data.text import TextLine
from .pictures.html import format_html, page_footer, page_header

OUTPUT_FORMATS = ("conll", "inline", "jsonl", "html")
CONFIDENCE_FORMATS = ("jsonl",)  # the output formats that show the entities' confidences
_DOCSTART = DOCSTART.encode()


@dataclass
class Layout:
    """How a CoNLL file separates its columns and whether it ends on a ``-DOCSTART-``, learnt as it is read.

    The other ``-DOCSTART-`` lines travel with the sentences they open (`Sentence.docstart`).

    Attributes
    ----------
    delimiter : str
        ``"\\t"`` when the first token line holds a TAB (the reader then splits on TABs only), else ``" "``.
    closing : str or None
        The ``-DOCSTART-`` line after the last sentence (WikiGold ends on one), as read; None if the file
        ends on a sentence.
    """

    delimiter: str = " "
    closing: str | None = None
    _lines: int = 0             # lines seen
    _delimiter_known: bool = False

    def observe(self, line: str | bytes) -> None:
        """Take note of the next line of the file (with its line end, as the stream gives it)."""
        self._lines += 1
        if isinstance(line, bytes):
            if self._delimiter_known and not line.startswith(_DOCSTART):  # the common case, left undecoded
                if self.closing is not None and line.strip():
                    self.closing = None
                return
            line = line.decode("utf-8", "replace")  # only to look at: the reader reports bad bytes itself
        if self._lines == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            return
        if is_docstart(line):  # the reader's test: the marker alone, or followed by columns
            self.closing = line.rstrip("\r\n")
            return
        self.closing = None
        if not self._delimiter_known:
            self.delimiter, self._delimiter_known = "\t" if "\t" in line else " ", True


class LineTap(SplitLines):
    """The lines of a binary stream, passed on to a reader, noting the :class:`Layout` on the way.

    The stream is read once, in blocks (see :func:`nertag.data._lines.byte_lines`): gzip is recognised
    without peeking, and lines ending in a lone CR are passed on ending in ``\\n``. Readers see the tap as
    a binary stream named ``name`` (for their error messages).
    """

    def __init__(self, stream: IO[bytes] | IO[str], name: str):
        self.stream, self.name, self.layout = stream, name, Layout()

    def _lines(self):
        if isinstance(self.stream, (SplitLines, io.TextIOBase)):
            return self.stream
        return byte_lines(readable(self.stream, self.name), self.name)

    def __iter__(self):
        for line in self._lines():
            self.layout.observe(line)
            yield line


class _TextLineTap(LineTap, io.TextIOBase):
    """A `LineTap` over a text stream: the readers see it as text."""

    def __init__(self, stream: IO[str], name: str):
        io.TextIOBase.__init__(self)
        LineTap.__init__(self, stream, name)

    __iter__ = LineTap.__iter__


class FdLines(SplitLines):
    """The lines of an open file descriptor (with their line ends), read in blocks with ``os.read``.

    Unlike a buffered file, no lock of Python's I/O is held while a read waits: a thread blocked reading a
    pipe or a terminal (see :func:`nertag.parallel.read_ahead`) does not stop the interpreter from exiting.
    Gzipped input is decompressed, and line ends are those of :func:`nertag.data._lines.byte_lines`.
    """

    def __init__(self, fd: int, name: str, block: int = 1 << 16):
        self.fd, self.name, self.block = fd, name, block

    def __iter__(self) -> Iterator[bytes]:
        return byte_lines(readable(lambda n: os.read(self.fd, n), self.name), self.name)


def tap(stream: IO[bytes] | IO[str], name: str) -> LineTap:
    """A tap over an open stream, binary or text."""
    return _TextLineTap(stream, name) if isinstance(stream, io.TextIOBase) else LineTap(stream, name)


@contextlib.contextmanager
def open_tap(path: str | os.PathLike) -> Iterator[LineTap]:
    """Open ``path`` (plain or gzipped, as :mod:`nertag.data` reads paths) as a tap over its bytes."""
    with open_binary(path) as raw:
        yield LineTap(raw, os.fspath(path))


def load_conll_file(path: str | os.PathLike, word_col: int = 0, tag_col: int | None = -1,
                    scheme: str | None = None) -> tuple[list[Sentence], Layout]:
    """All sentences of a CoNLL file and its layout, reading the file once (see `read_conll`)."""
    with open_tap(path) as source:
        sentences = load_conll(source, word_col=word_col, tag_col=tag_col, scheme=scheme)
    return sentences, source.layout


def convert_tags(sentences: Iterable[Sentence], source: str, target: str, tag_col: int) -> list[Sentence]:
    """The sentences with the tags, and column ``tag_col`` that holds them, converted to scheme ``target``."""
    out = []
    for s in sentences:
        tags = convert(s.tags, source, target)
        columns = []
        for row, t in zip(s.columns, tags):
            row = list(row)
            row[tag_col] = t
            columns.append(row)
        out.append(Sentence(s.words, tags, columns, s.doc, s.line, s.docstart))
    return out


# -- output of `nertag tag` ------------------------------------------------------------------------------------
def format_inline(tagged, text: str | None = None) -> str:
    """Each entity bracketed and typed: ``[PER John] lives in [LOC Berlin].``

    With the ``text`` the tokens came from (and entities with character offsets into it), the text is
    echoed as it was, spacing and all; otherwise the words are joined by spaces.
    """
    if text is not None and all(e.start is not None for e in tagged.entities):
        out, at = [], 0
        for e in tagged.entities:
            out += [text[at:e.start], f"[{e.type} {text[e.start:e.end]}]"]
            at = e.end
        return "".join(out) + text[at:]
    words, out, i = tagged.words, [], 0
    for e in tagged.entities:
        out += words[i:e.token_start] + [f"[{e.type} {' '.join(words[e.token_start:e.token_end])}]"]
        i = e.token_end
    return " ".join(out + words[i:])


def header(output_format: str) -> str:
    """What the output opens with, before the first record: the page's head for html, else nothing."""
    return page_header() if output_format == "html" else ""


def footer(output_format: str) -> str:
    """What the output ends with, after the last record: the page's end for html, else nothing."""
    return page_footer() if output_format == "html" else ""


def format_tagged(record: TextLine | Sentence, tagged, output_format: str, layout: Layout) -> str:
    """One tagged sentence (or line of text) in ``output_format``, with its line end(s).

    Parameters
    ----------
    record : TextLine or Sentence
        The sentence as read: a line of text, or CoNLL whose columns the ``conll`` format keeps.
    tagged : nertag.tagger.Tagged
    output_format : {"conll", "inline", "jsonl", "html"}
    layout : Layout
        Of the CoNLL input: its delimiter separates the columns of ``conll`` output.

    A line of text split into sentences (``TextLine.breaks``) stays one record: jsonl lists the sentences'
    token ranges, conll separates them by blank lines, inline and html echo the line.
    """
    is_text = isinstance(record, TextLine)
    if output_format == "jsonl":
        record_json = {"tokens": tagged.words, "tags": tagged.tags, "entities": [e.to_dict() for e in tagged.entities]}
        if is_text:
            record_json = {"text": record.text, **record_json}
            if record.breaks:
                bounds = [0, *record.breaks, len(tagged.words)]
                record_json["sentences"] = [list(pair) for pair in zip(bounds, bounds[1:])]
        return json.dumps(record_json, ensure_ascii=False) + "\n"
    if output_format == "inline":
        return format_inline(tagged, record.text if is_text else None) + "\n"
    if output_format == "html":
        return format_html(tagged, record.text if is_text else None, getattr(record, "docstart", None) is not None)
    if isinstance(record, Sentence):  # CoNLL in, CoNLL out: every column, then the predicted tag
        rows = (layout.delimiter.join([*row, t]) for row, t in zip(record.columns, tagged.tags))
        opening = "" if record.docstart is None else docstart_line(record.docstart, True, layout.delimiter) + "\n\n"
        return opening + "".join(row + "\n" for row in rows) + "\n"
    breaks = set(record.breaks) if is_text else ()
    return "".join(("\n" if i in breaks else "") + f"{w} {t}\n"
                   for i, (w, t) in enumerate(zip(tagged.words, tagged.tags))) + "\n"


# -- n-best and token probabilities (`nertag tag --nbest K`, `--probabilities`) ----------------------------
NBEST_FORMATS = ("conll", "jsonl")


def format_nbest(record: TextLine | Sentence, tagged, nbest: list[tuple[list[str], float]] | None,
                 probabilities: list[float] | None, output_format: str, layout: Layout) -> str:
    """One tagged sentence with its k best tag sequences and/or each token's tag probability.

    conll (as NCRF++ writes n-best): a line ``# nbest p1 p2 ...``, then each token with its k tags (and
    its probability, if asked) after the columns it came with. jsonl: the usual record with ``nbest``
    (``[{"tags": [...], "probability": p}, ...]``) and ``probabilities`` (one per token).
    """
    if output_format == "jsonl":
        line = json.loads(format_tagged(record, tagged, "jsonl", layout))
        if nbest is not None:
            line["nbest"] = [{"tags": tags, "probability": round(p, 6)} for tags, p in nbest]
        if probabilities is not None:
            line["probabilities"] = [round(p, 6) for p in probabilities]
        return json.dumps(line, ensure_ascii=False) + "\n"
    columns = record.columns if isinstance(record, Sentence) else [[w] for w in tagged.words]
    delimiter = layout.delimiter if isinstance(record, Sentence) else " "
    sequences = [tags for tags, _ in nbest] if nbest is not None else [tagged.tags]
    rows = [[*row, *(tags[i] for tags in sequences), *([f"{probabilities[i]:.6f}"] if probabilities else [])]
            for i, row in enumerate(columns)]
    head = "" if nbest is None else "# nbest " + " ".join(f"{p:.6f}" for _, p in nbest) + "\n"
    opening = ""
    if isinstance(record, Sentence) and record.docstart is not None:
        opening = docstart_line(record.docstart, True, delimiter) + "\n\n"
    return opening + head + "".join(delimiter.join(row) + "\n" for row in rows) + "\n"
