"""Pretrained embeddings: GloVe and word2vec text, gzip, fallback lookup, coverage, vocabulary extension."""
import gzip

import numpy as np
import pytest

from nertag.data.conll import load_conll
from nertag.data.embeddings import _matching_vectors, _VectorFile, _wanted_keys, load_embeddings
from nertag.data.vocab import Vocab
from nertag.errors import DataError

GLOVE = "the 0.1 0.2 0.3\neu 1 2 3\nparis -1 -2 -3\n1996 4 5 6\nnew york 7 8 9\nThe 9 9 9\n"


def write(tmp_path, text, name="vectors.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_glove_with_fallbacks_and_coverage(tmp_path):
    vocab = Vocab.build([["The", "EU", "the", "2024", "Lyon", "The"], ["new york"]])
    emb = load_embeddings(write(tmp_path, GLOVE), vocab)
    assert emb.matrix.shape == (len(vocab), 3) and emb.matrix.dtype == np.float32 and emb.dim == 3
    row = {t: emb.matrix[vocab.index(t)].tolist() for t in ("The", "the", "EU", "2024", "new york")}
    assert row == {
        "The": [9, 9, 9],  # its own exact vector, not the lowercased one
        "the": pytest.approx([0.1, 0.2, 0.3]),
        "EU": [1, 2, 3],  # lowercased
        "2024": [4, 5, 6],  # digit-normalised: 2024 -> 0000 <- 1996
        "new york": [7, 8, 9],  # words may contain spaces
    }
    assert not emb.found[vocab.index("Lyon")] and not emb.matrix[vocab.index("Lyon")].any()
    assert not emb.found[0] and not emb.found[1]
    cov = emb.coverage
    assert cov.types == 6 and cov.types_found == {"exact": 3, "lowercase": 1, "digits": 1}
    assert cov.tokens == 7 and cov.tokens_found == {"exact": 4, "lowercase": 1, "digits": 1}
    assert str(cov) == (
        "pretrained vectors for 5 of 6 word types (83.33%; 3 exact, 1 lowercase, 1 digits), "
        "covering 85.71% of training tokens"
    )


def test_word2vec_header_and_gzip_give_the_same_vectors(tmp_path):
    vocab = Vocab.build([["the", "paris", "EU"]])
    glove = load_embeddings(write(tmp_path, GLOVE), vocab)
    w2v_text = "6 3\n" + GLOVE.replace("\n", " \n")  # word2vec writes a space before the line end
    gz = tmp_path / "vectors.w2v.gz"
    gz.write_bytes(gzip.compress(w2v_text.encode()))
    w2v = load_embeddings(gz, vocab)
    np.testing.assert_array_equal(glove.matrix, w2v.matrix)


def test_without_vocab_the_whole_file_is_kept(tmp_path):
    emb = load_embeddings(write(tmp_path, GLOVE))
    assert emb.vocab.tokens == ["<pad>", "<unk>", "the", "eu", "paris", "1996", "new york", "The"]
    np.testing.assert_array_equal(emb.matrix[3], [1, 2, 3])
    assert not emb.matrix[:2].any()


def test_extend_with_dev_and_test_words_that_have_vectors(tmp_path):
    vocab = Vocab.build([["the"]], lowercase=True)
    emb = load_embeddings(write(tmp_path, GLOVE), vocab, extend_with=["Paris", "Lyon", "EU", "the", "1789"])
    assert emb.vocab.tokens == ["<pad>", "<unk>", "the", "paris", "eu", "1789"]
    np.testing.assert_array_equal(emb.matrix[-1], [4, 5, 6])
    assert emb.coverage.types == 4 and emb.coverage.tokens == 1


@pytest.mark.parametrize("lowercase", [True, False])
def test_extend_with_file_adds_every_word_of_the_file_in_one_pass(tmp_path, lowercase):
    path = write(tmp_path, GLOVE)
    vocab = Vocab.build([["The", "Lyon"]], lowercase=lowercase)
    emb = load_embeddings(path, vocab, extend_with=["Lyon", "EU"], extend_with_file=True)
    # the same as naming the file's words one by one after the dev words
    file_words = load_embeddings(path).vocab.tokens[2:]
    named = load_embeddings(path, vocab, extend_with=["Lyon", "EU", *file_words])
    assert emb.vocab.tokens == named.vocab.tokens
    np.testing.assert_array_equal(emb.matrix, named.matrix)
    expected = ["lyon", "the", "eu", "paris", "1996", "new york"] if lowercase else \
        ["Lyon", "The", "EU", "the", "eu", "paris", "1996", "new york"]
    assert emb.vocab.tokens[2:] == expected
    np.testing.assert_array_equal(emb.matrix[emb.vocab.index("1996")], [4, 5, 6])


def test_unfound_rows_random_with_rng_padding_row_zero(tmp_path):
    vocab = Vocab.build([["Lyon", "the"]])
    emb = load_embeddings(write(tmp_path, GLOVE), vocab, rng=np.random.default_rng(0))
    lyon = emb.matrix[vocab.index("Lyon")]
    assert lyon.any() and np.abs(lyon).max() <= np.sqrt(3 / 3)
    assert emb.matrix[1].any() and not emb.matrix[0].any()


def test_vector_file_yields_the_vector_lines_and_learns_their_size(tmp_path):
    vectors = _VectorFile(write(tmp_path, "3 2\nthe 0.1 0.2\n\nnew york 1 2\n1996 3 4\n"))
    assert vectors.dim is None
    assert list(vectors) == [(2, ["the", "0.1", "0.2"]), (4, ["new york", "1", "2"]), (5, ["1996", "3", "4"])]
    assert vectors.dim == 2
    assert list(vectors) == list(vectors)  # each iteration reads the file again


def test_the_first_vector_of_each_key_one_array_per_word(tmp_path):
    found, file_words = _matching_vectors(_VectorFile(write(tmp_path, GLOVE)), _wanted_keys(["The", "1789"]), False)
    assert [sorted(level) for level in found] == [["The"], ["the"], ["0000", "the"]]
    assert found[0]["The"].tolist() == [9, 9, 9]  # its exact line, the last of the file
    assert found[1]["the"] is found[2]["the"]  # the line "the ..." parsed once for both levels
    assert found[2]["0000"].tolist() == [4, 5, 6] and file_words == []


@pytest.mark.parametrize(
    "text, options, message",
    [
        ("a 1 2 3\nb 1 2\n", {}, "{path}:2: expected a word and 3 numbers, found 3 fields"),
        ("a 1 2 3\nb 1 2 3 4\n", {}, "{path}:2: expected a word and 3 numbers, found 5 fields"),
        ("the 1 2 x\n", {}, "{path}:1: expected numbers after the word 'the', found 'x'"),
        ("a 1 2 3\n", {"dim": 50}, "{path}:1: expected vectors of size 50, found 3"),
        ("2 3\na 1 2 3\n", {}, "{path}: expected 2 vectors as its header says, found 1"),
        ("2 4\na 1 2 3\n", {}, "{path}:2: expected vectors of size 4, found 3"),
        ("", {}, "{path}: expected word vectors, found none"),
    ],
)
def test_malformed_vector_files(tmp_path, text, options, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_embeddings(path, Vocab.build([["the", "a"]]), **options)
    assert str(caught.value) == message.format(path=path)


def test_shared_glove_subset(shared_data):
    path = shared_data / "embeddings" / "glove.6B.50d.conll2003.txt"
    names = ("eng.train", "eng.testa", "eng.testb")
    sentences = [s for name in names for s in load_conll(shared_data / "conll2003" / name)]
    vocab = Vocab.build((s.words for s in sentences), lowercase=True)
    emb = load_embeddings(path, vocab, dim=50)
    np.testing.assert_allclose(emb.matrix[vocab.index("the")][:3], [0.418, 0.24968, -0.41242], rtol=1e-6)
    assert emb.coverage.types_found["exact"] == 22947
    # The README's 97.67% of CoNLL-2003 tokens (lowercased), before the digit fallback adds a little more.
    assert round(emb.coverage.tokens_found["exact"] / emb.coverage.tokens, 4) == 0.9767
    assert emb.coverage.token_rate > 0.98
