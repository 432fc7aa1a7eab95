"""Reads of a model are bounded (issue 22): special files are refused at once; JSON depth, numbers, sizes
from the configuration, archives and weights are checked before anything large is allocated.

Every probe builds its files in ``tmp_path`` from the tiny ``model`` of conftest.py; nothing large is stored.
"""
from __future__ import annotations

import json
import os
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from cli_results import assert_error, nertag
from probes import TRAIN, copy_of, edited

from nertag import files
from nertag.data.embeddings import load_embeddings
from nertag.errors import DataError, ModelError
from nertag.files import read_json_file
from nertag.model_dir import BUNDLED_MODELS as BUNDLED
from nertag.model_dir import ModelDir, parameter_floor


@pytest.mark.parametrize("name", ["config.json", "meta.json", "vocab.json", "weights.npz"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "directory"])
def test_special_files_in_a_model_are_refused_at_once(model, tmp_path, name, special):
    copy = copy_of(model, tmp_path)
    (copy / name).unlink()
    if special == "fifo":
        os.mkfifo(copy / name)
    elif special == "directory":
        (copy / name).mkdir()
    else:
        (copy / name).symlink_to(special)
    kind = {"fifo": "a FIFO", "/dev/zero": "a character device", "directory": "a directory"}[special]
    started = time.monotonic()
    assert_error(nertag("tag", "--model", copy, input="John lives in Berlin\n"), f"{copy / name}: is {kind}")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("name", ["config.json", "meta.json", "vocab.json"])
def test_deep_json_and_huge_numbers_are_refused(model, tmp_path, name):
    deep = edited(model, tmp_path / "deep", name, lambda text: text.replace("{", '{"deep": ' + "[" * 100_000 + "]" * 100_000 + ",", 1))
    assert_error(nertag("info", "--model", deep), f"{name}: damaged", "nested too deeply")
    huge = edited(model, tmp_path / "huge", name, lambda text: text.replace("{", '{"n": 1' + "0" * 5000 + ",", 1))
    line = assert_error(nertag("info", "--model", huge), f"{name}: damaged", "5,001 digits")
    assert len(line) < 400


@pytest.mark.parametrize("name", ["config.json", "meta.json", "vocab.json"])
@pytest.mark.parametrize("literal, fragment", [
    ("NaN", "found NaN, which is not a JSON number"), ("Infinity", "found Infinity, which is not a JSON number"),
    ("-Infinity", "found -Infinity, which is not a JSON number"), ("1e400", "the number 1e400 is too large"),
])
def test_json_numbers_that_are_not_finite_are_refused(model, tmp_path, name, literal, fragment):
    copy = edited(model, tmp_path, name, lambda text: text.replace("{", '{"n": [1, ' + literal + "],", 1))
    assert_error(nertag("tag", "--model", copy, input="John\n"), f"{copy / name}: damaged ", fragment)


@pytest.mark.parametrize("literal", ["NaN", "-Infinity"])
def test_a_configuration_file_with_a_number_that_is_not_finite_is_refused(tmp_path, literal):
    path = tmp_path / "run.json"
    path.write_text('{"lr": ' + literal + "}")
    assert_error(nertag("train", "--conll", TRAIN, "--model", tmp_path / "m", "--config", path),
                 f"{path}: damaged configuration: found {literal}, which is not a JSON number")
    assert not (tmp_path / "m").exists()


def test_a_json_file_is_read_up_to_a_limit(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"a": "' + "x" * 5000 + '"}')
    with pytest.raises(ModelError, match="big.json: configuration larger than 0 MiB"):
        read_json_file(path, "configuration", limit=1000)


@pytest.mark.parametrize("field, value", [("hidden", 30_000), ("hidden", 1_000_000_000), ("word_dim", 1_000_000)])
def test_sizes_from_the_configuration_are_checked_before_allocation(model, tmp_path, field, value):
    copy = edited(model, tmp_path, "config.json",
                  lambda text: json.dumps({**json.loads(text), field: value}))
    assert_error(nertag("tag", "--model", copy, input="John\n"), "config.json: a network of",
                 "the configuration is not the model's")


@pytest.mark.parametrize("field, value, fragment", [
    ("batch_size", 10 ** 30, "batch_size must be at most 1,000,000,000"),
    ("epochs", 10 ** 12, "epochs must be at most 1,000,000,000"),
    ("seed", 2 ** 70, "seed must be below 2**64"),
])
def test_counts_in_the_configuration_have_an_upper_bound(model, tmp_path, field, value, fragment):
    copy = edited(model, tmp_path, "config.json", lambda text: json.dumps({**json.loads(text), field: value}))
    assert_error(nertag("tag", "--model", copy, input="John\n"), f"{copy / 'config.json'}: bad configuration: ",
                 fragment)


def test_sizes_floor_holds_for_real_models():
    for directory in (BUNDLED / "wikigold", BUNDLED / "conll2003"):
        if (directory / "weights.npz").exists():
            d = ModelDir(directory).describe()
            with np.load(directory / "weights.npz") as archive:
                count = sum(archive[name].size for name in archive.files)
            assert parameter_floor(d.config, len(d.words)) <= count


def test_a_zip_bomb_in_the_weights_is_refused_unread(model, tmp_path):
    copy = copy_of(model, tmp_path)
    with zipfile.ZipFile(copy / "weights.npz", "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("extra.npy", "w", force_zip64=True) as entry:
            np.lib.format.write_array_header_1_0(entry, {"descr": "<f8", "fortran_order": False,
                                                         "shape": (100 << 17,)})
            block = bytes(1 << 20)
            for _ in range(100):
                entry.write(block)
    assert (copy / "weights.npz").stat().st_size < 1 << 20
    assert_error(nertag("info", "--model", copy), "weights.npz: model weights unpacks to", "zip bomb")


def test_huge_finite_weights_are_refused(model, tmp_path):
    copy = copy_of(model, tmp_path)
    with np.load(copy / "weights.npz") as archive:
        arrays = {name[:-4] if name.endswith(".npy") else name: archive[name] for name in archive.files}
    name = next(iter(arrays))
    arrays[name] = arrays[name] + 1e30
    files.write_npz(copy / "weights.npz", arrays)
    assert_error(nertag("info", "--model", copy), f"parameter {name[len('param/'):]} holds a value of magnitude 1e+30")


def test_nan_in_embeddings_names_the_line(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("the 0.1 0.2\nof nan 0.3\n")
    with pytest.raises(DataError, match=r"vectors.txt:2: expected finite numbers after the word 'of', found 'nan'"):
        load_embeddings(path)


def test_error_messages_quote_a_short_excerpt(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("the 0.1 0.2\n" + "w" * 100_000 + " 0.1 x" * 1 + "\n")
    with pytest.raises(DataError) as error:
        load_embeddings(path)
    assert len(str(error.value)) < 300 and "100,000 characters" in str(error.value)


def _tagged_with_peak(model, word: str) -> tuple[str, int]:
    """The output of tagging ``word`` in a sentence (and 20 more), and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        result = nertag("tag", "--model", model, input=f"John {word} lives in Berlin\n" + "Mary is here\n" * 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    return result.stdout, peak


def test_one_huge_token_is_tagged_in_bounded_memory(model):
    """A 200 KB "word" costs what a short one does: the character encoder sees 100 of its characters (it took
    4.5-7 GiB, then a traceback)."""
    nertag("tag", "--model", model, input="warm up\n")
    _, short = _tagged_with_peak(model, "x")
    out, huge = _tagged_with_peak(model, "x" * 200_000)
    assert out.splitlines()[1].startswith("x" * 200_000)
    assert huge - short < 16 << 20, f"{short:,} then {huge:,} bytes"
