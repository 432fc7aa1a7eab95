"""Hostile files, special files, signals and two writers (issue 22).

Every probe builds its files in ``tmp_path``; nothing large is stored. Commands run in-process with
CliRunner where that is faithful, and as real processes where pipes, FIFOs or signals are the point.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from cli_results import assert_error, nertag

from nertag import files
from nertag.checkpoint import Checkpoint, TrainState
from nertag.config import Config
from nertag.data._lines import byte_lines, iter_lines, readable
from nertag.data.conll import load_conll
from nertag.data.embeddings import load_embeddings
from nertag.errors import DataError, ModelError, NertagError
from nertag.files import read_json_file
from nertag.model_dir import BUNDLED_MODELS as BUNDLED
from nertag.model_dir import ModelDir, parameter_floor
from nertag.tagger import Tagger
from nertag.train import build_tagger

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN = FIXTURES / "wikigold_train100.conll"
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def run(command: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """``command`` in bash, with this checkout's nertag first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout, env=env, cwd=ROOT,
                          **kwargs)


def assert_process_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    err = result.stderr.decode()
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nertag: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """Files over 64 KiB (more than one read block): space- and TAB-separated (words with spaces), gzipped."""
    directory = tmp_path_factory.mktemp("corpora")
    text = ("-DOCSTART- O\n\n" + TRAIN.read_text()) * 5
    spaced = directory / "spaced.conll"
    spaced.write_text(text)
    tabbed = directory / "tabbed.conll"
    tabbed.write_text("".join(line.replace(" ", "\t").replace("\t", " of\t", 1) if line.strip() and
                              not line.startswith("-DOCSTART-") else line for line in text.splitlines(True)))
    zipped = directory / "spaced.conll.gz"
    zipped.write_bytes(gzip.compress(text.encode(), mtime=0))
    return {"spaced": spaced, "tabbed": tabbed, "gzipped": zipped}


# -- 1. input read once ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["spaced", "tabbed", "gzipped"])
def test_a_pipe_gives_what_the_file_gives(corpora, kind):
    path = corpora[kind]
    assert path.stat().st_size > 1 << 16 or kind == "gzipped"
    m = f"{PYTHON} -m nertag"
    commands = {
        "tag": (f"{m} tag --input {path} --input-format conll",
                [f"cat {path} | {m} tag --input /dev/stdin --input-format conll",
                 f"{m} tag --input <(cat {path}) --input-format conll",
                 f"cat {path} | {m} tag --input - --input-format conll"]),
        "convert": (f"{m} convert {path} --to bioes",
                    [f"cat {path} | {m} convert /dev/stdin --to bioes", f"cat {path} | {m} convert - --to bioes",
                     f"{m} convert <(cat {path}) --to bioes"]),
    }
    for reference, piped in commands.values():
        expected = run(reference)
        assert expected.returncode == 0, expected.stderr
        if kind == "tabbed":
            assert b" of\t" in expected.stdout
        assert expected.stdout.count(b"-DOCSTART-") == 5
        for command in piped:
            got = run(command)
            assert (got.returncode, got.stdout) == (0, expected.stdout), (command, got.stderr)


def test_detection_reads_nothing_twice():
    """Gzip magic and line ends are learnt from bytes read once, even when they come one at a time."""
    text = TRAIN.read_bytes()
    for data in (text, gzip.compress(text), text.replace(b"\n", b"\r\n"), text.replace(b"\n", b"\r")):
        stream = io.BytesIO(data)
        lines = list(byte_lines(readable(lambda n: stream.read(min(n, 1)), "x"), "x"))
        assert b"".join(lines).replace(b"\r\n", b"\n") == text


@pytest.mark.parametrize("end", [b"\r", b"\r\n"])
def test_cr_only_and_crlf_line_ends_are_line_ends(tmp_path, end):
    path = tmp_path / "mac.conll"
    path.write_bytes(TRAIN.read_bytes().replace(b"\n", end))
    assert [line for _, line in iter_lines(path)] == TRAIN.read_text().splitlines()
    got, expected = load_conll(path), load_conll(TRAIN)
    assert [(s.words, s.tags, s.line) for s in got] == [(s.words, s.tags, s.line) for s in expected]
    converted = nertag("convert", path, "--to", "bioes")
    assert (converted.exit_code, converted.stdout) == (0, nertag("convert", TRAIN, "--to", "bioes").stdout)


def test_a_file_without_line_ends_is_refused_not_read_into_memory(tmp_path):
    result = run(f"{PYTHON} -m nertag tag --input /dev/zero --input-format conll")
    assert_process_error(result, "/dev/zero:1: expected lines of text, found a line longer than")
    result = run(f"{PYTHON} -m nertag convert /dev/zero --to bioes")
    assert_process_error(result, "/dev/zero:1:")


def test_a_fifo_without_a_writer_is_an_error_not_a_hang(tmp_path, monkeypatch):
    fifo = tmp_path / "data.conll"
    os.mkfifo(fifo)
    monkeypatch.setenv("NERTAG_FIFO_TIMEOUT", "0.3")
    started = time.monotonic()
    assert_error(nertag("convert", fifo, "--to", "bioes"), f"{fifo}: a FIFO that no process wrote to")
    assert time.monotonic() - started < 10


def test_a_fifo_whose_writer_comes_later_is_read_whole(tmp_path, monkeypatch):
    fifo = tmp_path / "data.conll"
    os.mkfifo(fifo)
    monkeypatch.setenv("NERTAG_FIFO_TIMEOUT", "20")

    def write():
        time.sleep(0.3)
        fifo.write_bytes(TRAIN.read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    result = nertag("convert", fifo, "--to", "bioes")
    writer.join()
    assert (result.exit_code, result.stdout) == (0, nertag("convert", TRAIN, "--to", "bioes").stdout)


# -- 2. no hangs, bounded reads ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """An untrained tiny model (loading it is all these probes need)."""
    directory = tmp_path_factory.mktemp("hostile") / "model"
    tagger = build_tagger(Config(hidden=4, char_dim=2, char_hidden=2, word_dim=4), load_conll(TRAIN),
                          log=lambda _: None)
    ModelDir(directory).save(tagger)
    return directory


def copy_of(model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    return copy


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


def edited(model: Path, tmp_path: Path, name: str, edit) -> Path:
    copy = copy_of(model, tmp_path)
    path = copy / name
    path.write_text(edit(path.read_text()))
    return copy


@pytest.mark.parametrize("name", ["config.json", "meta.json", "vocab.json"])
def test_deep_json_and_huge_numbers_are_refused(model, tmp_path, name):
    deep = edited(model, tmp_path / "deep", name, lambda text: text.replace("{", '{"deep": ' + "[" * 100_000 + "]" * 100_000 + ",", 1))
    assert_error(nertag("info", "--model", deep), f"{name}: damaged", "nested too deeply")
    huge = edited(model, tmp_path / "huge", name, lambda text: text.replace("{", '{"n": 1' + "0" * 5000 + ",", 1))
    line = assert_error(nertag("info", "--model", huge), f"{name}: damaged", "5,001 digits")
    assert len(line) < 400


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


@pytest.mark.parametrize("field, value, fragment", [
    ("epoch", "3", "epoch must be a whole number"), ("batch", -1, "batch must be a whole number"),
    ("batch", 10 ** 12, "batch must be a whole number"), ("best_f1", float("nan"), "best_f1 must be from -1"),
    ("history", "rows", "history must list"), ("fingerprint", [1], "fingerprint must be two counts"),
    ("data_rng", 7, "data_rng must be a generator state"), ("epoch_loss", -2.0, "epoch_loss must be"),
])
def test_checkpoint_fields_are_type_and_range_checked(field, value, fragment):
    sentences = load_conll(TRAIN)[:3]
    values = json.loads(json.dumps(asdict(TrainState.new(sentences, seed=1))))
    values[field] = value
    with pytest.raises(ModelError, match=re.escape(fragment)):
        Checkpoint.unpack({"state": np.array(json.dumps(values))}, Path("run/checkpoint.npz"))
    deep = np.array('{"epoch": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelError, match="nested too deeply"):
        Checkpoint.unpack({"state": deep}, Path("run/checkpoint.npz"))


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


# -- 3. one writer at a time; readers see whole models -----------------------------------------------------------
TINY = ["--hidden", "4", "--char-dim", "2", "--char-hidden", "2", "--word-dim", "4", "--no-progress"]


def start_training(directory: Path, *extra: str) -> subprocess.Popen:
    """A long training run in its own process, writing ``directory`` (returned once it holds the lock)."""
    args = [PYTHON, "-m", "nertag", "train", "--conll", str(TRAIN), "--model", str(directory), *TINY,
            "--epochs", "1000", "--patience", "1000", *extra]
    process = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while ModelDir(directory).holder() is None:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return process


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_ones_lock_is_taken_over(tmp_path):
    directory = tmp_path / "run"
    first = start_training(directory)
    try:
        assert ModelDir(directory).holder() == first.pid
        while not (directory / "checkpoint.npz").exists():
            time.sleep(0.05)
        # (the run's files; not its temporary files, which come and go as the running training writes)
        before = sorted(p.name for p in directory.iterdir() if not p.name.endswith(".tmp"))
        for args in (["--resume", directory], ["--model", directory, "--overwrite"], ["--model", directory]):
            result = nertag("train", "--conll", TRAIN, *TINY, "--epochs", "1", *args)
            assert_error(result, f"{directory}: a training run (process {first.pid}) is writing")
        assert set(before) <= {p.name for p in directory.iterdir()}  # --overwrite removed nothing
        with pytest.raises(NertagError, match=f"process {first.pid}"):
            with ModelDir(directory).locked():
                pass
    finally:
        first.kill()
        first.wait()
    assert (directory / ".nertag.lock").exists() and ModelDir(directory).holder() is None  # stale
    result = nertag("train", "--conll", TRAIN, "--resume", directory, "--epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert not (directory / ".nertag.lock").exists()


def test_readers_never_see_a_half_written_model(tmp_path):
    directory = tmp_path / "run"
    writer = start_training(directory, "--checkpoint-seconds", "0")
    try:
        deadline = time.monotonic() + 60
        while not (directory / "weights.npz").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        loads, saves = 0, set()
        stop = time.monotonic() + 4
        while time.monotonic() < stop or len(saves) < 2:
            assert time.monotonic() < deadline
            saves.add((directory / "weights.npz").stat().st_mtime_ns)
            tagger = Tagger.load(directory)
            assert len(tagger.tag(["John", "lives", "in", "Berlin"])) == 4
            loads += 1
        assert loads > 5 and len(saves) >= 2
    finally:
        writer.terminate()
        writer.wait(30)
    assert not list(directory.glob(".*.tmp"))


# -- 4. a vocabulary is checked against its weights --------------------------------------------------------------
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


# -- 5. the output side ------------------------------------------------------------------------------------------
def test_closed_or_full_standard_output_is_one_line(tmp_path):
    m = f"{PYTHON} -m nertag"
    assert_process_error(run(f"echo John | {m} tag >&-"), "<stdout>: standard output is closed")
    assert_process_error(run(f"echo John | {m} tag > /dev/full"), "<stdout>: No space left on device")
    assert_process_error(run(f"{m} convert {TRAIN} --to bioes > /dev/full"), "<stdout>: No space left on device")
    assert_process_error(run(f"{m} convert {TRAIN} --to bioes -o /dev/full"), "/dev/full: No space left on device")


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "meta.json"
    files.write_json(path, {"old": True})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError) as error:
        files.write_json(path, {"new": True})
    assert error.value.filename == str(path) and error.value.strerror == "No space left on device"
    assert json.loads(path.read_text()) == {"old": True} and list(tmp_path.iterdir()) == [path]
