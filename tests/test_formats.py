"""CoNLL layout learnt while reading once, and the output formats of `nertag tag` (issue 15)."""
from __future__ import annotations

import builtins
import gzip
import io
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nertag.cli import app
from nertag.data.conll import load_conll, sniff_delimiter, write_conll
from nertag.data.text import TextLine, Token
from nertag.errors import DataError
from nertag.formats import Layout, format_inline, format_tagged, load_conll_file, tap
from nertag.tagger import Entity, Tagged

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN = FIXTURES / "wikigold_train100.conll"
DEV = FIXTURES / "wikigold_dev30.conll"

LAYOUTS = [  # file text, delimiter, closing -DOCSTART- line
    ("a O\nb O\n", " ", None),
    ("a\tO\nb c\tO\n", "\t", None),
    ("-DOCSTART- O\n\na O\n\n-DOCSTART- O\n\nb O\n", " ", None),
    ("\ufeff-DOCSTART-\t-X-\tO\n\na\tO\n", "\t", None),
    ("\n\n-DOCSTART-\n\n\na O\n", " ", None),
    ("a O\n\n-DOCSTART- O\n\nb\tO\n", " ", None),
    ("a O\n-DOCSTART-\n", " ", "-DOCSTART-"),
    ("a O\n\n-DOCSTART- -X- O\r\n\n", " ", "-DOCSTART- -X- O"),
    ("-DOCSTART-ED\tO\n", "\t", None),  # a token, not a document marker: its TAB decides
    ("a O\r\nb O\r\n", " ", None),
]


@pytest.mark.parametrize("text, delimiter, closing", LAYOUTS)
def test_layout_of_a_file_read_once(tmp_path, text, delimiter, closing):
    path = tmp_path / "x.conll"
    path.write_bytes(text.encode())
    sentences, layout = load_conll_file(path)
    assert (layout.delimiter, layout.closing) == (delimiter, closing)
    assert (sniff_delimiter(path) or " ") == delimiter  # what the reader's own sniffing says
    assert [s.words for s in sentences] == [s.words for s in load_conll(path)]
    gzipped = tmp_path / "x.conll.gz"
    gzipped.write_bytes(gzip.compress(text.encode()))
    assert load_conll_file(gzipped)[1] == layout


@pytest.mark.parametrize("text, delimiter, closing", LAYOUTS)
def test_layout_of_text_and_binary_streams(text, delimiter, closing):
    for stream in (io.BytesIO(text.encode()), io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8")):
        source = tap(stream, "<stdin>")
        assert [s.words for s in load_conll(source)] == [s.words for s in load_conll(io.StringIO(text))]
        assert (source.layout.delimiter, source.layout.closing) == (delimiter, closing)


def test_layout_written_back_reproduces_the_file(tmp_path):
    sentences, layout = load_conll_file(TRAIN)
    out = io.StringIO()
    write_conll(sentences, out, delimiter=layout.delimiter, closing=layout.closing)
    assert out.getvalue() == TRAIN.read_text()


def test_convert_and_eval_read_their_file_once(tmp_path, monkeypatch):
    opened = []

    def counting(real_open):
        def counting_open(file, *args, **kwargs):
            opened.append(Path(file).name if isinstance(file, (str, Path)) else None)
            return real_open(file, *args, **kwargs)
        return counting_open

    monkeypatch.setattr(builtins, "open", counting(builtins.open))
    monkeypatch.setattr(os, "open", counting(os.open))
    result = CliRunner().invoke(app, ["convert", "--to", "bioes", str(TRAIN)])
    assert result.exit_code == 0, result.stderr
    assert opened.count(TRAIN.name) == 1
    result = CliRunner().invoke(app, ["eval", "--conll", str(DEV), "--output", str(tmp_path / "p.conll")])
    assert result.exit_code == 0, result.stderr
    assert opened.count(DEV.name) == 1


def test_unreadable_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"missing\.conll: cannot read the file: No such file"):
        load_conll_file(tmp_path / "missing.conll")


def test_output_formats():
    entity = Entity("New York", "LOC", 1, 3, 3, 11, 0.98765)
    tagged = Tagged(["in", "New", "York"], ["O", "B-LOC", "I-LOC"], [entity])
    text = TextLine("in New York", [Token("in", 0, 2), Token("New", 3, 6), Token("York", 7, 11)], 1)
    assert format_inline(tagged) == "in [LOC New York]"
    assert format_tagged(text, tagged, "inline", Layout()) == "in [LOC New York]\n"
    assert format_tagged(text, tagged, "conll", Layout()) == "in O\nNew B-LOC\nYork I-LOC\n\n"
    assert format_tagged(text, tagged, "jsonl", Layout()) == (
        '{"text": "in New York", "tokens": ["in", "New", "York"], "tags": ["O", "B-LOC", "I-LOC"], "entities": '
        '[{"text": "New York", "type": "LOC", "start": 3, "end": 11, "token_start": 1, "token_end": 3, '
        '"confidence": 0.9877}]}\n')
    conll = load_conll(io.StringIO("in\tIN\nNew\tNNP\nYork\tNNP\n"), tag_col=None)[0]
    assert format_tagged(conll, tagged, "conll", Layout(delimiter="\t")) == \
        "in\tIN\tO\nNew\tNNP\tB-LOC\nYork\tNNP\tI-LOC\n\n"
    assert format_tagged(conll, tagged, "jsonl", Layout()).startswith('{"tokens": ["in", "New", "York"]')


def test_fd_lines_split_blocks_into_lines():
    import os

    from nertag.formats import FdLines

    read, write = os.pipe()
    os.write(write, b"one\r\ntwo\n\nthree")
    os.close(write)
    try:
        assert list(FdLines(read, "<pipe>", block=3)) == [b"one\r\n", b"two\n", b"\n", b"three"]
    finally:
        os.close(read)
