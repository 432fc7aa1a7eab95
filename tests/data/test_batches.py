"""Encoding and batching: time-major shapes, zero padding, characters per word, bucketing, determinism."""

import numpy as np
import pytest

from nertag.data.batches import Encoded, collate, encode_sentences, encode_tokens, make_batches, pad, pad_tokens
from nertag.data.conll import Sentence
from nertag.data.schemes import scheme_tags
from nertag.data.vocab import Vocab
from nertag.errors import DataError


def sentence(words, tags=None, line=1):
    return Sentence(words, tags, [[w] for w in words], 0, line)


SENTENCES = [
    sentence(["Anna", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"], line=1),
    sentence(["Hi"], ["O"], line=6),
    sentence(["Bob", "Smith", "."], ["B-PER", "I-PER", "O"], line=8),
]


@pytest.fixture()
def vocabs():
    words = Vocab.build(s.words for s in SENTENCES)
    chars = Vocab.build(w for s in SENTENCES for w in s.words)
    tags = Vocab.for_tags(scheme_tags(["PER", "LOC"], "BIOES"))
    return words, chars, tags


def test_encode_converts_schemes_and_keeps_characters(vocabs):
    words, chars, tags = vocabs
    encoded = encode_sentences(SENTENCES, words, chars, tags, schemes=("IOB2", "BIOES"))
    first = encoded[0]
    assert words.decode(first.words) == ["Anna", "lives", "in", "Paris"]
    assert tags.decode(encoded[2].tags) == ["B-PER", "E-PER", "O"]
    assert tags.decode(first.tags) == ["S-PER", "O", "O", "S-LOC"]
    assert first.char_lengths.tolist() == [4, 5, 2, 5]
    assert "".join(chars.decode(first.chars)) == "Annalivesin" + "Paris"
    plain = encode_sentences(SENTENCES, words)
    assert plain[0].chars is None and plain[0].tags is None


def test_unknown_tag_names_file_and_line(vocabs):
    words, chars, tags = vocabs
    bad = [sentence(["Anna", "ACME"], ["B-PER", "B-ORG"], line=40)]
    with pytest.raises(DataError) as caught:
        encode_sentences(bad, words, chars, tags, path="dev.conll")
    assert str(caught.value).startswith("dev.conll:41: expected one of the 9 known tags (O, B-LOC,")
    assert str(caught.value).endswith("found 'B-ORG'")


def test_batch_shapes_and_padding(vocabs):
    words, chars, tags = vocabs
    encoded = encode_sentences(SENTENCES, words, chars, tags, schemes=("IOB2", "BIOES"))
    batch = collate(encoded, [2, 0, 1])
    assert batch.words.shape == (4, 3) and batch.words.dtype == np.int64  # (T, B): time-major
    assert batch.chars.shape == (4, 3, 5) and batch.chars.dtype == np.int64  # C = longest word, "lives"/"Paris"
    assert batch.char_lengths.shape == batch.tags.shape == (4, 3)
    assert batch.lengths.tolist() == [3, 4, 1] and batch.index.tolist() == [2, 0, 1]
    assert batch.lengths.dtype == batch.index.dtype == np.int64
    assert words.decode(batch.words[:, 1]) == ["Anna", "lives", "in", "Paris"]
    assert batch.words[3, 0] == 0 and (batch.words[1:, 2] == 0).all()
    assert (batch.tags[1:, 2] == 0).all()
    assert "".join(chars.decode(batch.chars[1, 1, :5])) == "lives"
    assert batch.chars[2, 1, :2].tolist() == chars.encode("in").tolist() and (batch.chars[2, 1, 2:] == 0).all()
    assert batch.char_lengths[:, 0].tolist() == [3, 5, 1, 0]
    assert (batch.chars[3, 0] == 0).all() and (batch.chars[1:, 2] == 0).all()
    np.testing.assert_array_equal(batch.mask, batch.words != 0)
    assert batch.n_tokens == 8


def random_corpus(n, rng):
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 40))
        out.append(Encoded(rng.integers(2, 100, length), None, None, rng.integers(0, 5, length)))
    return out


def test_without_rng_batches_keep_input_order():
    encoded = random_corpus(10, np.random.default_rng(0))
    batches = list(make_batches(encoded, 4))
    assert [b.index.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0].chars is None


def test_shuffled_bucketed_batches_cover_every_sentence_and_repeat_with_the_seed():
    encoded = random_corpus(1000, np.random.default_rng(1))
    first = list(make_batches(encoded, 16, rng=np.random.default_rng(7)))
    again = list(make_batches(encoded, 16, rng=np.random.default_rng(7)))
    other = list(make_batches(encoded, 16, rng=np.random.default_rng(8)))
    assert [b.index.tolist() for b in first] == [b.index.tolist() for b in again]
    assert [b.index.tolist() for b in first] != [b.index.tolist() for b in other]
    assert sorted(np.concatenate([b.index for b in first]).tolist()) == list(range(1000))
    for b in first:
        for j, i in enumerate(b.index):
            np.testing.assert_array_equal(b.words[: b.lengths[j], j], encoded[i].words)
            np.testing.assert_array_equal(b.tags[: b.lengths[j], j], encoded[i].tags)
    padding = sum(b.words.size - b.n_tokens for b in first)
    unbucketed = list(make_batches(encoded, 16, rng=np.random.default_rng(7), bucket=False))
    assert padding < 0.25 * sum(b.words.size - b.n_tokens for b in unbucketed)


@pytest.mark.parametrize("with_chars", [True, False])
def test_pad_tokens_is_pad_of_encode_tokens(vocabs, with_chars):
    """The array-built batch for tagging equals the per-sentence one, array for array."""
    words, chars, _ = vocabs
    chars = chars if with_chars else None
    sentences = [["Anna", "lives", "in", "Paris"], ["Hi"], ["Bob", "Smith", ".", "Zoë", "1996"], ["in"]]
    expected, found = pad([encode_tokens(s, words, chars) for s in sentences]), pad_tokens(sentences, words, chars)
    for name in ("words", "chars", "char_lengths", "tags", "lengths", "index"):
        a, b = getattr(expected, name), getattr(found, name)
        assert (a is None and b is None) or (a.dtype == b.dtype and np.array_equal(a, b) and b.flags.c_contiguous)
    assert np.array_equal(found.padded.lengths, expected.padded.lengths) and found.padded.T == expected.padded.T
    if with_chars:
        assert np.array_equal(found.char_padded.lengths, expected.char_padded.lengths)
        assert found.char_padded.T == expected.char_padded.T


def test_one_huge_word_keeps_the_character_batch_small():
    """A 200 KB "word" is read by the character encoder as its first and last 50 characters."""
    from nertag.data.batches import MAX_WORD_CHARS, encode_tokens, pad, pad_tokens, spelling
    from nertag.data.vocab import Vocab

    huge = "a" * 100_000 + "b" * 100_000
    words, chars = Vocab.build([["x", huge]]), Vocab.build(["xab"])
    batch = pad_tokens([["x", huge], ["x"]], words, chars)
    assert batch.chars.shape == (2, 2, MAX_WORD_CHARS) and spelling(huge) == "a" * 50 + "b" * 50
    same = pad([encode_tokens(["x", huge], words, chars), encode_tokens(["x"], words, chars)])
    assert np.array_equal(batch.chars, same.chars) and np.array_equal(batch.char_lengths, same.char_lengths)
    assert batch.words[1, 0] == words.encode([huge])[0]  # the word itself is looked up whole
