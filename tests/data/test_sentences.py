"""Sentence splitting of paragraphs: boundaries, offsets into the line, tokens of each sentence."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nertag.data.sentences import TextSpan, sentence_tokens, split_sentences
from nertag.data.text import Token


def sentences(line):
    return [s.text for s in split_sentences(line)]


def test_sentences_with_offsets():
    line = "  Anna left. Bob stayed!  "
    assert split_sentences(line) == [TextSpan("Anna left.", 2, 12), TextSpan("Bob stayed!", 13, 24)]
    assert split_sentences("") == [] and split_sentences(" \t ") == []


@pytest.mark.parametrize(
    "line, expected",
    [
        ("It rained. We left.", ["It rained.", "We left."]),
        ("Really?! Yes... Then (at 5) home.", ["Really?!", "Yes...", "Then (at 5) home."]),
        ('He said "go." Then he went.', ['He said "go."', "Then he went."]),
        ('"Go home." "Now?" he asked.', ['"Go home."', '"Now?" he asked.']),
        ("It fell 5%. (Reuters) And 1996. 1997 was better.", ["It fell 5%.", "(Reuters) And 1996.",
                                                             "1997 was better."]),
        ("Shares fell. -- London Newsroom", ["Shares fell.", "-- London Newsroom"]),
        # no capital, digit, dash or opening mark next: no boundary
        ("in Paris. then it rained", ["in Paris. then it rained"]),
        ("It cost 1.5 billion.Really", ["It cost 1.5 billion.Really"]),
        # a quote standing alone after a period closes the sentence (sentence-by-sentence detokenisation)
        ('"We won. It was fun. "', ['"We won.', 'It was fun. "']),
        # abbreviations and initials do not end sentences
        ("Dr. Smith met Mr. J. R. Jones at St. Paul's.", ["Dr. Smith met Mr. J. R. Jones at St. Paul's."]),
        ("The U.S. Navy and Wash. State met on Sept. 5. Fine.", ["The U.S. Navy and Wash. State met on Sept. 5.",
                                                                 "Fine."]),
        ("Apple Inc. Chief Tim Cook said so.", ["Apple Inc. Chief Tim Cook said so."]),
        ("See www.x.com. It works.", ["See www.x.com.", "It works."]),
        # ... except one that often closes a sentence, before a word that usually opens one
        ("He works for Apple Inc. The firm grew.", ["He works for Apple Inc.", "The firm grew."]),
        ("It is made in the U.S. But it sells.", ["It is made in the U.S.", "But it sells."]),
        ("Dr. He is here.", ["Dr. He is here."]),
    ],
)
def test_split_sentences(line, expected):
    assert sentences(line) == expected


def test_sentence_tokens_are_tokenised_alone_with_offsets_into_the_line():
    line = "He works for Apple Inc. The firm grew."
    tokens = sentence_tokens(line)
    assert [[t.text for t in s] for s in tokens] == [["He", "works", "for", "Apple", "Inc", "."],
                                                     ["The", "firm", "grew", "."]]
    assert tokens[0][-2:] == [Token("Inc", 19, 22), Token(".", 22, 23)] and tokens[1][0] == Token("The", 24, 27)
    assert [[t.text for t in s] for s in sentence_tokens("a b. C d", "whitespace")] == [["a", "b."], ["C", "d"]]


PIECES = st.sampled_from(["Dr.", "Inc.", "U.S.", "P.", "The", "word", ".", "!", "?", "...", '"', "(", ")", "--", "5",
                          "a.", " ", "  ", "\t", "é", "x@y.com"])


@given(st.lists(PIECES, max_size=20).map("".join))
def test_sentences_cover_the_line_in_order(line):
    spans = split_sentences(line)
    assert all(line[s.start:s.end] == s.text and s.text == s.text.strip() and s.text for s in spans)
    assert all(a.end < b.start for a, b in zip(spans, spans[1:]))
    assert "".join("".join(s.text.split()) for s in spans) == "".join(line.split())
    tokens = [t for sentence in sentence_tokens(line) for t in sentence]
    assert all(line[t.start:t.end] == t.text for t in tokens)
    assert "".join(t.text for t in tokens) == "".join(line.split())
