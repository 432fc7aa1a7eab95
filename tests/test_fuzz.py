"""Property-based tests: generated malformed and valid input at the readers and at `nertag tag` (issue 9).

Properties: no traceback, ever (only a DataError from the readers, only exit code 0 or 2 with one line on
stderr from the command line); and valid input is never rejected.
"""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nertag.cli import app
from nertag.config import Config
from nertag.data.conll import load_conll, read_conll, write_conll
from nertag.data.schemes import scheme_tags
from nertag.data.text import read_text
from nertag.errors import DataError
from nertag.train import train

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Fixed examples under CI (a red build should mean a change broke something); fresh ones on a desk.
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=bool(os.environ.get("CI")))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz") / "model"
    sentences = load_conll(FIXTURES / "wikigold_train100.conll")[:40]
    train(Config(hidden=4, char_dim=3, char_hidden=2, word_dim=4, epochs=1), sentences, model_dir=directory,
          progress=False, log=lambda _: None)
    return directory


# -- strategies ----------------------------------------------------------------------------------------------------
TAGS = ["O", "B-PER", "I-PER", "E-LOC", "S-ORG", "I-creative-work", "B-", "PER", "X-PER", "o", "I_PER", "-DOCSTART-"]
PIECES = st.one_of(
    st.sampled_from(["John", "Zürich", "東京", "'s", "-", "--", "-DOCSTART-", "\ufeff", "\x00", "ÿ", "a b"]),
    st.sampled_from(TAGS),
    st.text(min_size=1, max_size=6),
)
SEPARATORS = st.sampled_from([" ", "  ", "\t", " \t", ""])
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r", "\n\n", "\n \n", "\n\t\n"])


@st.composite
def conll_like(draw) -> bytes:
    """Text that looks like CoNLL and often is not: odd columns, tags, separators, line ends, encodings."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        fields = draw(st.lists(PIECES, min_size=0, max_size=4))
        lines.append(draw(SEPARATORS).join(fields) + draw(LINE_ENDS))
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # damage some bytes
        for position in draw(st.lists(st.integers(0, max(len(data) - 1, 0)), max_size=3)):
            data = data[:position] + bytes([draw(st.integers(0, 255))]) + data[position + 1:]
    return data


ANY_INPUT = st.one_of(conll_like(), st.binary(max_size=200))

WORD = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=8) \
    .filter(lambda w: w.split() == [w] and not w.startswith(("-DOCSTART-", "\ufeff")))  # a BOM first is a BOM


@st.composite
def valid_corpus(draw) -> list[tuple[list[str], list[str]]]:
    types = draw(st.lists(st.sampled_from(["PER", "LOC", "creative-work"]), min_size=1, max_size=3, unique=True))
    tags = st.sampled_from(scheme_tags(types, draw(st.sampled_from(["IOB1", "IOB2", "BIOES"]))))
    sentences = []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(1, 6))
        sentences.append((draw(st.lists(WORD, min_size=n, max_size=n)), draw(st.lists(tags, min_size=n, max_size=n))))
    return sentences


def as_conll(sentences, delimiter=" ") -> str:
    return "".join("".join(f"{w}{delimiter}{t}\n" for w, t in zip(words, tags)) + "\n" for words, tags in sentences)


# -- the readers ---------------------------------------------------------------------------------------------------
@FUZZ
@given(data=ANY_INPUT, tag_col=st.sampled_from([-1, None, 1, 3]))
def test_conll_reader_raises_only_data_errors(data, tag_col):
    try:
        sentences = list(read_conll(io.BytesIO(data), tag_col=tag_col))
    except DataError as error:
        assert "\n" not in str(error)
    else:
        assert sentences and all(len(s.words) == len(s.columns) > 0 for s in sentences)


def _line_count(data: bytes) -> int:
    """Lines end in LF (or CRLF), or in a lone CR when the first line end is one (an old Mac file)."""
    first = re.search(rb"\r\n|\n|\r(?=.)", data, re.S)
    end = b"\r" if first is not None and first.group() == b"\r" else b"\n"
    if end == b"\n" and data.endswith(b"\r") and b"\n" not in data:
        data = data[:-1] + b"\n"  # a lone CR ends the only line
    return data.count(end) + (not data.endswith(end) and len(data) > 0)


@FUZZ
@given(data=ANY_INPUT)
def test_text_reader_raises_only_data_errors(data):
    try:
        lines = list(read_text(io.BytesIO(data), "rules"))
    except DataError as error:
        assert str(error).startswith("<stream>:") and "\n" not in str(error)
    else:
        assert len(lines) == _line_count(data)
        for line in lines:
            assert all(line.text[t.start:t.end] == t.text for t in line.tokens)


@FUZZ
@given(corpus=valid_corpus(), delimiter=st.sampled_from([" ", "\t"]), crlf=st.booleans())
def test_valid_conll_is_never_rejected(corpus, delimiter, crlf):
    text = as_conll(corpus, delimiter)
    data = (text.replace("\n", "\r\n") if crlf else text).encode()
    sentences = list(read_conll(io.BytesIO(data)))
    assert [(s.words, s.tags) for s in sentences] == corpus
    out = io.StringIO()
    write_conll(sentences, out, delimiter=delimiter, docstart=None)
    assert out.getvalue() == text


# -- nertag tag ------------------------------------------------------------------------------------------------------
def tag(model, data, *options):
    result = CliRunner().invoke(app, ["tag", "--model", str(model), *options], input=data)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


@FUZZ
@given(data=ANY_INPUT, input_format=st.sampled_from(["text", "conll"]),
       output_format=st.sampled_from(["conll", "inline", "jsonl"]))
def test_tag_never_shows_a_traceback(model, data, input_format, output_format):
    result = tag(model, data, "--input-format", input_format, "--output-format", output_format, "--batch-size", "3")
    if result.exit_code == 0:  # perhaps with warnings about lines skipped
        assert all(line.startswith("nertag: warning: ") for line in result.stderr.splitlines()), result.stderr
    else:
        assert result.exit_code == 2
        *warnings, error = result.stderr.splitlines()          # (warnings about lines skipped before it)
        assert all(line.startswith("nertag: warning: ") for line in warnings), result.stderr
        assert error.startswith("nertag: error: <stdin>:") and result.stderr.endswith("\n"), result.stderr


def has_words(lines: list[str]) -> bool:
    """Some token in the lines (a byte-order mark opening the input is not text)."""
    return any(line.split() for line in [lines[0].removeprefix("\ufeff"), *lines[1:]])


@FUZZ
@given(lines=st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=30),
                      min_size=1, max_size=6).filter(has_words),
       tokenizer=st.sampled_from(["whitespace", "rules"]))
def test_tag_accepts_any_valid_text(model, lines, tokenizer):
    text = "\n".join(lines) + "\n"
    result = tag(model, text.encode(), "--output-format", "jsonl", "--tokenizer", tokenizer)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.split("\n")[:-1]]
    assert [r["text"] for r in records] == [line.removeprefix("\ufeff") if i == 0 else line
                                           for i, line in enumerate(lines)]
    for r in records:
        assert len(r["tags"]) == len(r["tokens"])
        if tokenizer == "whitespace":
            assert r["tokens"] == r["text"].split()
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]].startswith(r["tokens"][e["token_start"]])
            assert 0 <= e["confidence"] <= 1


@FUZZ
@given(corpus=valid_corpus(), delimiter=st.sampled_from([" ", "\t"]))
def test_tag_accepts_any_valid_conll(model, corpus, delimiter):
    result = tag(model, as_conll(corpus, delimiter).encode(), "--input-format", "conll")
    assert result.exit_code == 0, result.stderr
    rows = [line.split(delimiter) for line in result.stdout.split("\n") if line]
    assert [row[:2] for row in rows] == [[w, t] for words, tags in corpus for w, t in zip(words, tags)]
    assert all(len(row) == 3 for row in rows)
