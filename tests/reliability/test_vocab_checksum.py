"""A vocabulary is checked against the weights it was saved with (issue 22): shifted, permuted or duplicated
vocabularies are refused; models saved before the checksum load as before.
"""
from __future__ import annotations

import json

import pytest
from cli_results import assert_error, nertag
from probes import TINY, TRAIN, copy_of

from nertag.tagger import Tagger


def _permute_tags(vocab):
    tags = vocab["tags"]["tokens"]
    tags[0], tags[1] = tags[1], tags[0]


def _shift_words(vocab):
    words = vocab["words"]["tokens"]
    words[2:] = words[3:] + words[2:3]


def _duplicate_word(vocab):
    words = vocab["words"]["tokens"]
    words[3] = words[2]


def _recount(vocab):
    vocab["words"]["counts"][2] += 1


@pytest.mark.parametrize("damage", [_permute_tags, _shift_words, _duplicate_word, _recount])
def test_an_edited_vocabulary_is_refused(model, tmp_path, damage):
    meta = json.loads((model / "meta.json").read_text())
    assert len(meta["vocab_sha256"]) == 64
    copy = copy_of(model, tmp_path)
    vocab = json.loads((copy / "vocab.json").read_text())
    damage(vocab)
    (copy / "vocab.json").write_text(json.dumps(vocab))
    line = assert_error(nertag("tag", "--model", copy, input="John\n"), f"{copy / 'vocab.json'}: ")
    assert ("the vocabularies are not those the weights were saved with" in line or
            "vocabulary tokens must be unique" in line), line


def test_a_vocabulary_rewritten_with_the_same_content_and_a_model_without_checksum_load(model, tmp_path):
    copy = copy_of(model, tmp_path)
    vocab = json.loads((copy / "vocab.json").read_text())
    (copy / "vocab.json").write_text(json.dumps(vocab, indent=None))  # other layout, same content
    assert nertag("tag", "--model", copy, input="John\n").exit_code == 0
    meta = json.loads((copy / "meta.json").read_text())
    del meta["vocab_sha256"]
    (copy / "meta.json").write_text(json.dumps(meta))
    _permute_tags(vocab)
    (copy / "vocab.json").write_text(json.dumps(vocab))
    assert nertag("tag", "--model", copy, input="John\n").exit_code == 0  # as before checksums: not detectable


def test_the_checksum_survives_training_and_resume(tmp_path):
    directory = tmp_path / "run"
    assert nertag("train", "--conll", TRAIN, "--model", directory, *TINY, "--epochs", "1").exit_code == 0
    first = json.loads((directory / "meta.json").read_text())["vocab_sha256"]
    result = nertag("train", "--conll", TRAIN, "--resume", directory, "--epochs", "2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert json.loads((directory / "meta.json").read_text())["vocab_sha256"] == first
    Tagger.load(directory)
