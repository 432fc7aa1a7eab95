"""Every command meets bad input with one line on stderr and exit code 2 (issue 9).

The line names the file (and the line, for data), says what was wrong and what was expected.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from cli_results import assert_error, nertag, ok
from probes import DEV, TINY, TRAIN

from nertag.config import Config
from nertag.data.conll import load_conll
from nertag.model_dir import ModelDir
from nertag.tagger import Tagger
from nertag.train import build_tagger

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """An untrained model with max_length 6 (no training needed to check error paths)."""
    directory = tmp_path_factory.mktemp("rel") / "model"
    tagger = build_tagger(Config(hidden=4, char_dim=2, char_hidden=2, word_dim=4, max_length=6), load_conll(TRAIN),
                          log=lambda _: None)
    ModelDir(directory).save(tagger)
    return directory


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished one-epoch training run (checkpoint included), to resume."""
    directory = tmp_path_factory.mktemp("run") / "run"
    result = nertag("train", "--conll", TRAIN, "--model-dir", directory, *TINY, "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    return directory


# -- malformed CoNLL, for every command that reads it --------------------------------------------------------
MALFORMED = {  # name: (file bytes, line named, what the message says, applies to `tag` (untagged, may be empty))
    "not-utf8": (b"John I-PER\nBer\xfflin I-LOC\n", 2, "expected UTF-8 text, found byte 0xff", True),
    "latin1": ("Zürich I-LOC\n".encode("latin-1"), 1, "expected UTF-8", True),
    "columns": (b"John NNP I-PER\nlives O\n", 2, "expected 3 columns like line 1", True),
    "one-column": (b"John\nlives\n", 1, "expected a word column and a tag column", False),
    "bad-tag": (b"John O\nlives PER\n", 2, "expected a tag O or", False),
    "bad-prefix": (b"John X-PER\n", 1, "found 'X-PER'", False),
    "empty-file": (b"", None, "found an empty file", False),
    "blank-lines": (b"\n \n\t\n", None, "found 3 lines without a token", False),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", 1, "expected UTF-8 text, found byte 0x89", True),
    "truncated-gzip": (gzip.compress(b"John I-PER\n" * 2000)[:60], None, "cannot read the file", True),
}
READERS = {  # command line reading the file FILE, and whether it reads tags
    "train --conll": (["train", "--conll", "FILE", "--model-dir", "OUT", *TINY], True),
    "train --dev": (["train", "--conll", TRAIN, "--dev", "FILE", "--model-dir", "OUT", *TINY], True),
    "eval": (["eval", "--conll", "FILE", "--model", "MODEL"], True),
    "convert": (["convert", "--to", "bioes", "FILE"], True),
    "tag --input": (["tag", "--input-format", "conll", "--input", "FILE", "--model", "MODEL"], False),
}


@pytest.mark.parametrize("case, reader", [(case, reader) for case in MALFORMED for reader in READERS
                                          if READERS[reader][1] or MALFORMED[case][3]])  # tag reads no tags
def test_malformed_conll(case, reader, model, tmp_path):
    data, line, message, _ = MALFORMED[case]
    args, _ = READERS[reader]
    path = tmp_path / "bad.conll"
    path.write_bytes(data)
    args = [{"FILE": path, "OUT": tmp_path / "out", "MODEL": model}.get(a, a) for a in args]
    where = f"{path}:{line}:" if line else f"{path}:"
    assert_error(nertag(*args), where, message)
    assert not (tmp_path / "out").exists()  # nothing written for bad input


def test_malformed_conll_on_stdin(model):
    assert_error(nertag("tag", "--model", model, "--input-format", "conll", input=b"a B\nb\n"),
                 "<stdin>:2:", "expected 2 columns like line 1 where this sentence starts, found 1")


# -- raw text on stdin -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, fragments", [
    (b"fine line\nBer\xe9lin\n", ("<stdin>:2:", "expected UTF-8 text, found byte 0xe9")),
    (b"\xff\xfe\x00J\x00o\x00h\x00n", ("<stdin>:1:", "expected UTF-8")),  # UTF-16
    (bytes(range(256)), ("<stdin>:2:", "expected UTF-8 text, found byte 0x80")),  # binary junk, a \n at 10
])
@pytest.mark.parametrize("output_format", ["conll", "jsonl"])
def test_tag_bad_stdin(data, fragments, output_format, model):
    assert_error(nertag("tag", "--model", model, "--output-format", output_format, input=data), *fragments)


@pytest.mark.parametrize("input_format", ["text", "conll"])
@pytest.mark.parametrize("output_format", ["conll", "inline", "jsonl"])
def test_tag_empty_input_gives_no_output(input_format, output_format, model):
    done = ok(nertag("tag", "--model", model, "--input-format", input_format, "--output-format", output_format,
                     input=b""))
    assert done.stdout == "" and done.stderr == ""


def test_tag_blank_lines_keep_their_place(model):
    """Each blank line of text gives an empty record where it stood, in every output format."""
    text = "a b\n\n  \nc\n"
    records = [json.loads(r) for r in ok(nertag("tag", "--model", model, "--output-format", "jsonl",
                                                input=text)).stdout.splitlines()]
    assert [r["text"] for r in records] == ["a b", "", "  ", "c"]
    assert [len(r["tags"]) for r in records] == [2, 0, 0, 1]
    inline = ok(nertag("tag", "--model", model, "--output-format", "inline", input=text)).stdout
    assert inline.count("\n") == 4 and inline.splitlines()[1:3] == ["", "  "]  # echoed as they were
    conll = ok(nertag("tag", "--model", model, input=text)).stdout
    # a sentence ends with a blank line, and each empty one is a blank line of its own
    assert [bool(line) for line in conll.split("\n")] == [True, True, False, False, False, True, False, False]


# -- sentences longer than the limit ----------------------------------------------------------------------------
def test_long_sentences_are_tagged_in_pieces(model, tmp_path):
    """The model's max_length is 6: a line of 14 tokens is tagged in three pieces, and the stream goes on."""
    long_ = " ".join(f"w{i}" for i in range(14))
    records = [json.loads(r) for r in ok(nertag("tag", "--model", model, "--output-format", "jsonl",
                                                input=f"a b\n{long_}\nc\n")).stdout.splitlines()]
    assert [len(r["tokens"]) for r in records] == [2, 14, 1]
    assert records[1]["tokens"] == long_.split() and len(records[1]["tags"]) == 14
    for e in records[1]["entities"]:
        assert 0 <= e["token_start"] < e["token_end"] <= 14 and long_[e["start"]:e["end"]] == e["text"]
    tagger = Tagger.load(model)
    pieces = [long_.split()[i:i + 6] for i in (0, 6, 12)]
    assert records[1]["tags"] == [t for piece in pieces for t in tagger.tag(piece)]
    conll = "a O\n\n" + "".join(f"w{i} O\n" for i in range(7))
    out = ok(nertag("tag", "--model", model, "--input-format", "conll", input=conll)).stdout
    assert [len(block.splitlines()) for block in out.strip().split("\n\n")] == [1, 7]
    (tmp_path / "gold.conll").write_text(conll)
    assert "2 sentences" in ok(nertag("eval", "--model", model, "--conll", tmp_path / "gold.conll")).stdout


def test_training_sentence_longer_than_max_length_trains_in_pieces(tmp_path):
    done = ok(nertag("train", "--conll", TRAIN, "--model-dir", tmp_path / "m", *TINY, "--max-length", "5",
                     "--epochs", "1"))
    assert f"{TRAIN}: " in done.output and "longer than 5 tokens (--max-length) trained in pieces: line 1 (15 tokens)" \
        in done.output


# -- paths -----------------------------------------------------------------------------------------------------
def test_missing_paths(model, tmp_path):
    missing = tmp_path / "missing"
    for args, fragment in [
        (["train", "--conll", missing], "no such file (training data)"),
        (["train", "--conll", TRAIN, "--dev", missing], "no such file (dev data)"),
        (["train", "--conll", TRAIN, "--config", missing], "no such file (configuration)"),
        (["train", "--conll", TRAIN, "--embeddings", missing], "no such file (embeddings)"),
        (["train", "--conll", TRAIN, "--resume", missing], "no such model directory"),
        (["eval", "--conll", missing, "--model", model], "no such file (evaluation data)"),
        (["eval", "--conll", DEV, "--model", missing], "no such model directory"),
        (["tag", "--input", missing, "--model", model], "no such file (input)"),
        (["tag", "--model", missing], "no such model directory"),
        (["convert", "--to", "iob2", missing], "no such file (input)"),
        (["info", "--model", missing], "no such model directory"),
    ]:
        assert_error(nertag(*args), str(missing), fragment)


def test_directories_where_files_belong(model, tmp_path):
    assert_error(nertag("train", "--conll", tmp_path), str(tmp_path), "is a directory, expected a training data file")
    assert_error(nertag("tag", "--input", tmp_path, "--model", model), "is a directory, expected a input file")
    assert_error(nertag("info", "--model", TRAIN), str(TRAIN), "not a directory")


@pytest.mark.skipif(ROOT, reason="root reads files whatever their mode")
def test_unreadable_paths(model, tmp_path):
    secret = tmp_path / "secret.conll"
    shutil.copy(TRAIN, secret)
    locked = tmp_path / "locked"
    shutil.copytree(model, locked)
    secret.chmod(0)
    (locked / "config.json").chmod(0)
    try:
        assert_error(nertag("train", "--conll", secret, "--model-dir", tmp_path / "m"),
                     str(secret), "Permission denied")
        assert_error(nertag("tag", "--input", secret, "--model", model), str(secret), "Permission denied")
        assert_error(nertag("info", "--model", locked), str(locked / "config.json"), "cannot read model configuration")
    finally:
        secret.chmod(0o644)
        (locked / "config.json").chmod(0o644)


def test_output_directory_that_is_a_file(model, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_error(nertag("train", "--conll", TRAIN, "--model-dir", a_file, *TINY),
                 str(a_file), "exists and is not a directory; choose another --model")
    assert_error(nertag("train", "--conll", TRAIN, "--model-dir", a_file / "sub", *TINY),
                 "cannot create the model directory", f"{a_file} is a file")
    assert_error(nertag("eval", "--conll", DEV, "--model", model, "--output", tmp_path / "nowhere" / "p.conll"),
                 "the directory", "does not exist")
    assert_error(nertag("eval", "--conll", DEV, "--model", model, "--output", a_file / "p.conll"),
                 f"{a_file} is a file, not a directory")
    assert_error(nertag("eval", "--conll", DEV, "--model", model, "--output", tmp_path),
                 str(tmp_path), "is a directory, expected a file name for the predictions")
    assert a_file.read_text() == "x"


# -- tag sets ----------------------------------------------------------------------------------------------------
def test_eval_with_types_the_model_does_not_know(model, tmp_path):
    (tmp_path / "gold.conll").write_text("Ann I-PER\nvisits O\nMars I-PLANET\n")
    result = nertag("eval", "--model", model, "--conll", tmp_path / "gold.conll", "--json")
    assert result.exit_code == 0, result.stderr
    assert "types the model does not know: PLANET" in result.stderr
    scores = json.loads(result.stdout)
    assert scores["types"]["PLANET"]["support"] == 1 and scores["types"]["PLANET"]["recall"] == 0


def test_tag_ignores_gold_tags_it_does_not_know(model):
    result = nertag("tag", "--model", model, "--input-format", "conll", input="Mars I-PLANET\n")
    assert result.exit_code == 0 and result.stdout.startswith("Mars I-PLANET ")


def test_resume_with_another_tag_set(run, tmp_path):
    lines = TRAIN.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace("I-MISC", "I-PLANET")  # same sentences and tokens, one foreign tag
    (tmp_path / "other.conll").write_text("".join(lines))
    assert_error(nertag("train", "--conll", tmp_path / "other.conll", "--resume", run, "--no-progress"),
                 f"{tmp_path / 'other.conll'}:1:", "found 'S-PLANET'", "was started with another tag set")


def test_resume_with_other_data(run):
    assert_error(nertag("train", "--conll", DEV, "--resume", run, "--no-progress"),
                 str(DEV), f"not the training data of the run in {run}", "expected 100 sentences")


def test_resume_with_another_configuration(run):
    assert_error(nertag("train", "--conll", TRAIN, "--resume", run, "--hidden", "5", "--no-progress"),
                 "cannot resume with a different configuration: hidden 5 (the run has 4)")
    assert_error(nertag("train", "--conll", TRAIN, "--resume", run, "--model-dir", run / "other"),
                 "--model ", "differ")


def test_resume_without_a_checkpoint_and_a_new_run_over_an_old_one(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert_error(nertag("train", "--conll", TRAIN, "--model-dir", copy, *TINY),
                 str(copy), "holds a training run already; --resume")
    (copy / "checkpoint.npz").unlink()
    assert_error(nertag("train", "--conll", TRAIN, "--resume", copy), "no checkpoint.npz to resume from")


# -- options and configuration files --------------------------------------------------------------------------
def test_bad_options_and_configuration(model, tmp_path):
    bad = tmp_path / "bad.json"
    for content, fragments in [
        ('{"hiden": 8}', ("unknown configuration keys ['hiden']",)),
        ('{"hidden": "8"}', ("hidden must be a whole number, got '8'",)),
        ('{"dropout": 1.5}', ("dropout must be in [0, 1), got 1.5",)),
        ("[1, 2]", ("expected a JSON object",)),
        ('{"hidden": 8', ("not valid JSON",)),
    ]:
        bad.write_text(content)
        assert_error(nertag("train", "--conll", TRAIN, "--config", bad), str(bad), *fragments)
    for args, fragment in [
        (["train", "--conll", TRAIN, "--lr", "-1"], "lr must be a positive number, got -1.0"),
        (["train", "--conll", TRAIN, "--optimizer", "adamw"], "unknown optimizer 'adamw'"),
        (["train", "--conll", TRAIN, "--ema-decay", "1"], "ema_decay must be in [0, 1), got 1.0"),
        (["train", "--conll", TRAIN, "--scheme", "xyz"], "unknown tag scheme 'xyz'"),
        (["train", "--conll", TRAIN, "--dtype", "float16"], "dtype must be float32 or float64"),
        (["train", "--conll", TRAIN, "--checkpoint-seconds", "-1"], "--checkpoint-seconds must not be negative"),
        (["tag", "--model", model, "--output-format", "xml"], "--output-format must be conll, inline, jsonl or html"),
        (["tag", "--model", model, "--input-format", "xml"], "--input-format must be text or conll"),
        (["tag", "--model", model, "--tokenizer", "spacy"], "--tokenizer must be one of whitespace, rules"),
        (["tag", "--model", model, "--batch-size", "0"], "--batch-size must be at least 1"),
        (["tag", "--model", model, "--scheme", "bilou"], "unknown tag scheme 'bilou'"),
        (["convert", "--to", "bilou", TRAIN], "unknown tag scheme 'bilou'"),
    ]:
        assert_error(nertag(*args, input=""), fragment)


def test_convert_from_a_scheme_the_file_does_not_follow(tmp_path):
    (tmp_path / "x.conll").write_text("John B-PER\nSmith E-PER\n")
    assert_error(nertag("convert", "--to", "iob1", "--from", "iob2", tmp_path / "x.conll"),
                 f"{tmp_path / 'x.conll'}:2:", "expected a tag O or B-TYPE/I-TYPE in IOB2, found 'E-PER'")


def test_sizes_from_the_command_line_and_long_bad_values_are_one_short_line(tmp_path):
    for size in ("30000", "1000000000"):
        line = assert_error(nertag("train", "--conll", TRAIN, "--model", tmp_path / "m", "--hidden", size),
                            "the configuration asks for", "more than the 8 GiB nertag allocates")
        assert not (tmp_path / "m" / "weights.npz").exists()
    (tmp_path / "bad.conll").write_text("John " + "X" * 5000 + "\n")
    line = assert_error(nertag("train", "--conll", tmp_path / "bad.conll", "--model", tmp_path / "n"), "found 'XXX")
    assert len(line) < 300 and "(5,000 characters)" in line
