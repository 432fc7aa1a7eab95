"""Vocabularies: specials, normalisation, min count, JSON round trip, singleton replacement."""
import json

import numpy as np
import pytest

from nertag.data.schemes import scheme_tags
from nertag.data.vocab import Vocab, normalise_digits
from nertag.errors import DataError

SENTENCES = [["The", "EU", "met", "in", "1996", "."], ["the", "EU", "said", "2024", "."], ["EU", "."]]


def test_word_vocab_specials_order_and_unknown():
    vocab = Vocab.build(SENTENCES)
    assert vocab.tokens[:2] == ["<pad>", "<unk>"] and (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.tokens[2:5] == [".", "EU", "1996"]  # by count, then alphabetically
    assert vocab.encode(["EU", "Brussels"]).tolist() == [3, 1]
    assert vocab.encode(["EU"]).dtype == np.int64
    assert vocab.decode(vocab.encode(["met", "in"])) == ["met", "in"]
    assert len(vocab) == 2 + 9


def test_lowercase_digits_and_min_count():
    vocab = Vocab.build(SENTENCES, lowercase=True, normalise_digits=True, min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", ".", "eu", "0000", "the"]
    assert vocab.counts.tolist() == [0, 0, 3, 3, 2, 2]
    assert vocab.encode(["THE", "1789", "met"]).tolist() == [5, 4, 1]
    assert "Eu" in vocab and "met" not in vocab
    assert normalise_digits("A1b٣") == "A0b0"  # any script's digits


def test_max_size_keeps_the_most_frequent():
    assert Vocab.build(SENTENCES, max_size=2).tokens == ["<pad>", "<unk>", ".", "EU"]


def test_character_vocab_from_words():
    chars = Vocab.build(w for s in SENTENCES for w in s)
    assert chars.encode("EU").tolist() == [chars.index("E"), chars.index("U")]
    assert chars.index("§") == chars.unk_id


def test_tag_vocab_has_no_specials_and_rejects_unknown_tags():
    tags = Vocab.for_tags(scheme_tags(["PER", "LOC"], "BIOES"))
    assert tags.tokens[0] == "O" and tags.pad_id is None and tags.unk_id is None and len(tags) == 9
    assert tags.encode(["O", "S-PER"]).tolist() == [0, 8]
    with pytest.raises(DataError, match=r"expected one of the 9 known tags \(O, B-LOC, .*\), found 'B-ORG'"):
        tags.encode(iter(["O", "B-ORG"]))
    with pytest.raises(DataError, match="found 'X'"):
        tags.index("X")


def test_json_round_trip():
    for vocab in (
        Vocab.build(SENTENCES, lowercase=True, normalise_digits=True),
        Vocab.for_tags(["O", "B-X", "I-X"]),
        Vocab.build(SENTENCES, pad=None),
    ):
        data = json.loads(json.dumps(vocab.to_json()))
        again = Vocab.from_json(data)
        assert again == vocab and again.tokens == vocab.tokens
        assert (again.lowercase, again.normalise_digits, again.pad_id, again.unk_id) == (
            vocab.lowercase, vocab.normalise_digits, vocab.pad_id, vocab.unk_id,
        )
    assert Vocab.build(SENTENCES, pad=None).unk_id == 0


def test_bad_json_is_a_data_error():
    with pytest.raises(DataError, match="expected a vocabulary with keys tokens, counts, pad, unk; missing counts"):
        Vocab.from_json({"tokens": [], "pad": None, "unk": None})


def test_duplicate_tokens_are_refused():
    with pytest.raises(ValueError, match="repeated: \\['a'\\]"):
        Vocab(["a", "b", "a"])


def test_extend_appends_new_words_with_count_zero():
    vocab = Vocab.build(SENTENCES, lowercase=True)
    bigger = vocab.extend(["Brussels", "EU", "brussels", "Paris"])
    assert bigger.tokens == vocab.tokens + ["brussels", "paris"]
    assert bigger.counts[-2:].tolist() == [0, 0]
    assert vocab.index("paris") == vocab.unk_id  # the original is unchanged


def test_replace_singletons():
    vocab = Vocab.build(SENTENCES)
    ids = np.stack([vocab.encode(["met", "EU", "said", "<pad>"])] * 2000)  # (2000, 4); met, said are singletons
    rng = np.random.default_rng(0)
    out = vocab.replace_singletons(ids, 0.5, rng)
    assert out.shape == ids.shape and ids[0, 0] != vocab.unk_id  # input untouched
    replaced = out == vocab.unk_id
    assert not replaced[:, 1].any() and not replaced[:, 3].any()
    assert 0.45 < replaced[:, 0].mean() < 0.55 and 0.45 < replaced[:, 2].mean() < 0.55
    again = vocab.replace_singletons(ids, 0.5, np.random.default_rng(0))
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(vocab.replace_singletons(ids, 0.0, rng), ids)


def test_encode_remembers_ids_without_changing_them():
    """Ids come from a per-token memo and a per-code-point table: the same as `index` gives, every time."""
    vocab = Vocab.build([["Paris", "paris", "1996", "ÉTÉ"]], lowercase=True, normalise_digits=True)
    tokens = ["Paris", "PARIS", "2024", "été", "Été", "Oslo", "", "Paris"]
    expected = [vocab.index(t) for t in tokens]
    assert vocab.encode(tokens).tolist() == expected and vocab.encode(tokens).tolist() == expected
    chars = Vocab.build(["ab", "é"], normalise_digits=True)
    text = "ab1é\U0001F600b"  # a digit, a letter off the table so far, an emoji beyond the BMP
    expected = [chars._index.get(chars.normalise(c), chars.unk_id) for c in text]
    assert chars.encode(text).tolist() == expected and chars.encode(text).tolist() == expected
    assert chars.encode("").tolist() == []
    tags = Vocab.for_tags(["O", "B-PER"])
    with pytest.raises(DataError, match="found 'B'"):  # the first unknown character
        tags.encode("OBX")
    with pytest.raises(DataError, match="found 'I-PER'"):
        tags.encode(["O", "I-PER"])
    assert tags.encode(["B-PER", "O"]).tolist() == [1, 0]
