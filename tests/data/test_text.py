"""Raw-text tokenisation: tokens and their character offsets, rule by rule."""
import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nertag.data.text import TOKENIZERS, Token, read_text, tokenize
from nertag.errors import DataError

tokenize_module = importlib.import_module("nertag.data.tokenize")  # the package exports the function


def texts(line, mode="ptb"):
    return [t.text for t in tokenize(line, mode)]


def test_whitespace_tokens_with_offsets():
    line = "  Anna\tlives in  New-York. "
    assert tokenize(line) == [
        Token("Anna", 2, 6), Token("lives", 7, 12), Token("in", 13, 15), Token("New-York.", 17, 26),
    ]
    assert tokenize("") == [] and tokenize(" \t ") == []


def test_ptb_tokens_with_offsets():
    line = " Apple Inc.'s U.S. unit, Wash.-based, lost $5."
    assert tokenize(line, "ptb") == [
        Token("Apple", 1, 6), Token("Inc.", 7, 11), Token("'s", 11, 13), Token("U.S.", 14, 18),
        Token("unit", 19, 23), Token(",", 23, 24), Token("Wash.-based", 25, 36), Token(",", 36, 37),
        Token("lost", 38, 42), Token("$", 43, 44), Token("5", 44, 45), Token(".", 45, 46),
    ]


def test_rules_is_another_name_of_ptb():
    line = "Dr. Smith's co-chair, Acme Corp."
    assert tokenize(line, "rules") == tokenize(line, "ptb")


# One worked example per rule of nertag.data.tokenize (the module docstring's table).
@pytest.mark.parametrize(
    "line, tokens",
    [
        # punctuation splits off
        ("[LOC London,] [ORG Apple.]", ["[", "LOC", "London", ",", "]", "[", "ORG", "Apple", ".", "]"]),
        ('O\'Neill (co-chair) said: "yes!"', ["O'Neill", "(", "co-chair", ")", "said", ":", '"', "yes", "!", '"']),
        ("up 5% to $10; 12.5%?", ["up", "5", "%", "to", "$", "10", ";", "12.5", "%", "?"]),
        # runs of one mark stay together
        ("this... -- that---", ["this", "...", "--", "that", "---"]),
        # clitics
        ("Germany's they’re I'm we'd you'll we've", ["Germany", "'s", "they", "’re", "I", "'m", "we", "'d", "you",
                                                   "'ll", "we", "'ve"]),
        ("don't CAN'T won’t PELE'S", ["do", "n't", "CA", "N'T", "wo", "n’t", "PELE", "'S"]),
        ("the players' union 'quoted'", ["the", "players", "'", "union", "'", "quoted", "'"]),
        # apostrophes inside words
        ("O'Neill d'Italia Gov't o'clock cannot", ["O'Neill", "d'Italia", "Gov't", "o'clock", "cannot"]),
        # numbers
        ("1,000.5 at 10:30, 1/2 of .596 or +44 171 (+0.05) 10th 1990s",
         ["1,000.5", "at", "10:30", ",", "1/2", "of", ".596", "or", "+44", "171", "(", "+0.05", ")", "10th",
          "1990s"]),
        ("5-3 win, 1996-08-22 and 5-1/2", ["5-3", "win", ",", "1996-08-22", "and", "5-1/2"]),
        # hyphenated words, a hyphen left hanging
        ("Stratford-upon-Avon's 7,215-yard course", ["Stratford-upon-Avon", "'s", "7,215-yard", "course"]),
        ("pre- and post-war AA- bonds, 43- month", ["pre-", "and", "post-war", "AA-", "bonds", ",", "43-", "month"]),
        ("Kent - 1 - Smith", ["Kent", "-", "1", "-", "Smith"]),
        # abbreviations keep their period, also in hyphenated words
        ("U.S. a.m. F.C. e.g. vs. Mr. Dr. St. Jan. Corp. Ltd. INC. etc. here",
         ["U.S.", "a.m.", "F.C.", "e.g.", "vs.", "Mr.", "Dr.", "St.", "Jan.", "Corp.", "Ltd.", "INC.", "etc.", "here"]),
        ("(P. Smith 4-38, J. Brown)", ["(", "P.", "Smith", "4-38", ",", "J.", "Brown", ")"]),
        ("Tacoma, Wash.-based U.S.-led", ["Tacoma", ",", "Wash.-based", "U.S.-led"]),
        # ... except at the end of the sentence, where the sentence takes the period
        ("He works for Apple Inc.", ["He", "works", "for", "Apple", "Inc", "."]),
        ('"in the U.S."', ['"', "in", "the", "U.S", ".", '"']),
        ("Plan B.", ["Plan", "B", "."]),
        ("Wash. is not Washington.", ["Wash.", "is", "not", "Washington", "."]),
        ("see Mich..", ["see", "Mich.", "."]),
        # words that are not abbreviations lose their period
        ("in Paris. Then", ["in", "Paris", ".", "Then"]),
        ("No. 1 and no. 2", ["No.", "1", "and", "no.", "2"]),
        # a rank opening a line
        ("1. Anna Berg (Norway) 12.80", ["1.", "Anna", "Berg", "(", "Norway", ")", "12.80"]),
        ("  6= Ola Nordmann", ["6=", "Ola", "Nordmann"]),
        ("won 6-3 in 1996.", ["won", "6-3", "in", "1996", "."]),
        ("7.", ["7."]),
        # currency prefixes
        ("US$10 C$ 5 HK$", ["US$", "10", "C$", "5", "HK$"]),
        ("£5 €3", ["£", "5", "€", "3"]),
        # URLs and e-mail addresses
        ("Mail desk@example.com, anna.berg@example.co.uk.",
         ["Mail", "desk@example.com", ",", "anna.berg@example.co.uk", "."]),
        ("(see http://www.example.org/news/today).", ["(", "see", "http://www.example.org/news/today", ")", "."]),
        ("at www.example.net, or https://x.org/a?b=1.", ["at", "www.example.net", ",", "or",
                                                                "https://x.org/a?b=1", "."]),
        # & between letters
        ("S&P and AT&T, Q & A", ["S&P", "and", "AT&T", ",", "Q", "&", "A"]),
        # letters beyond ASCII
        ("Zürich-based Société Générale’s", ["Zürich-based", "Société", "Générale", "’s"]),
    ],
)
def test_ptb_rules(line, tokens):
    assert texts(line) == tokens


ALPHABET = st.sampled_from("aZ9 .,'’-\t:é!€\u00a0$%@/&+=\"()")
WORDS = st.sampled_from(["U.S.", "Inc.", "Wash.", "P.", "don't", "1,000.5", "www.x.com", "a@b.co", "--", "...",
                         "'s", "-based", "1.", "US$", "+44", ".5", "http://a.b/c", "O'Neill", "x", " ", "  "])


@given(st.one_of(st.text(alphabet=ALPHABET, max_size=40), st.lists(WORDS, max_size=12).map("".join)),
       st.sampled_from(TOKENIZERS))
def test_offsets_point_at_the_token_and_cover_all_non_space(line, mode):
    tokens = tokenize(line, mode)
    assert all(line[t.start : t.end] == t.text and t.text and not any(c.isspace() for c in t.text) for t in tokens)
    assert all(a.end <= b.start for a, b in zip(tokens, tokens[1:]))
    assert "".join(t.text for t in tokens) == "".join(line.split())


@given(st.one_of(st.text(alphabet=ALPHABET, max_size=40), st.lists(WORDS, max_size=12).map("".join),
                 st.text(max_size=30)))
def test_ptb_chunk_by_chunk_is_the_rules_over_the_whole_line(line):
    """The tokeniser matches the rules one whitespace chunk at a time and takes plain ASCII words whole:
    the same tokens as the rules' regex over the whole line."""
    whole = [(m.group(), m.start(), m.end()) for m in tokenize_module._PTB.finditer(line)]
    assert [tuple(t) for t in tokenize_module._ptb_tokens(line, 0)] == whole


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown tokeniser 'spacy'; expected one of whitespace, rules, ptb"):
        tokenize("a", "spacy")


def test_read_text_keeps_line_numbers_and_blank_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("\ufeffAnna lives in Paris.\r\n\r\nBob\n".encode())
    lines = list(read_text(path, mode="ptb"))
    assert [(tl.line, tl.words) for tl in lines] == [(1, ["Anna", "lives", "in", "Paris", "."]), (2, []), (3, ["Bob"])]
    assert lines[0].tokens[3] == Token("Paris", 14, 19) and lines[0].text == "Anna lives in Paris."


def test_read_text_rejects_bad_bytes(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"ok\nM\xfcller\n")
    with pytest.raises(DataError, match=r"in\.txt:2: expected UTF-8 text, found byte 0xfc"):
        list(read_text(path))
