"""Raw-text tokenisation: tokens and their character offsets."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nertag.data.text import Token, read_text, tokenize
from nertag.errors import DataError


def texts(line, mode):
    return [t.text for t in tokenize(line, mode)]


def test_whitespace_tokens_with_offsets():
    line = "  Anna\tlives in  New-York. "
    assert tokenize(line) == [
        Token("Anna", 2, 6), Token("lives", 7, 12), Token("in", 13, 15), Token("New-York.", 17, 26),
    ]
    assert tokenize("") == [] and tokenize(" \t ") == []


@pytest.mark.parametrize(
    "line, tokens",
    [
        ("EU rejects German call.", ["EU", "rejects", "German", "call", "."]),
        ("Germany's U.S. envoy don't", ["Germany", "'s", "U.S.", "envoy", "do", "n't"]),
        ("O'Neill (co-chair) said: \"yes!\"", ["O'Neill", "(", "co-chair", ")", "said", ":", '"', "yes", "!", '"']),
        ("1,000.5 at 10:30 on 1996-08-22, 3-2", ["1,000.5", "at", "10:30", "on", "1996-08-22", ",", "3-2"]),
        ("CAN'T they’re Zürich-based", ["CA", "N'T", "they", "’re", "Zürich-based"]),
        ("e.g. £5", ["e.g.", "£", "5"]),
    ],
)
def test_rules_split_punctuation_and_clitics(line, tokens):
    assert texts(line, "rules") == tokens


ALPHABET = st.sampled_from("aZ9 .,'’-\t:é!€\u00a0")


@given(st.text(alphabet=ALPHABET, max_size=40), st.sampled_from(("whitespace", "rules")))
def test_offsets_point_at_the_token_and_cover_all_non_space(line, mode):
    tokens = tokenize(line, mode)
    assert all(line[t.start : t.end] == t.text and t.text and not t.text.isspace() for t in tokens)
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:]))
    assert "".join(t.text for t in tokens) == "".join(line.split())


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown tokeniser 'spacy'; expected one of whitespace, rules"):
        tokenize("a", "spacy")


def test_read_text_keeps_line_numbers_and_blank_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeffAnna lives in Paris.\r\n\r\nBob\n".encode())
    lines = list(read_text(path, mode="rules"))
    assert [(tl.line, tl.words) for tl in lines] == [(1, ["Anna", "lives", "in", "Paris", "."]), (2, []), (3, ["Bob"])]
    assert lines[0].tokens[3] == Token("Paris", 14, 19) and lines[0].text == "Anna lives in Paris."


def test_read_text_rejects_bad_bytes(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"ok\nM\xfcller\n")
    with pytest.raises(DataError, match=r"in\.txt:2: expected UTF-8 text, found byte 0xfc"):
        list(read_text(path))
