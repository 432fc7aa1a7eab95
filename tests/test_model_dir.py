"""Model directories: damaged, foreign, newer or hostile ones are refused with a clear error (issue 9).

Loading never executes anything from the files. The hostile files here are crafted with pickle in the
tests only; the library neither imports pickle nor lets numpy unpickle.
"""
from __future__ import annotations

import json
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nertag import files
from nertag.cli import app
from nertag.config import Config
from nertag.data.conll import load_conll
from nertag.errors import ModelError, NertagError
from nertag.model_dir import FORMAT_VERSION, ModelDir
from nertag.tagger import Tagger
from nertag.train import build_tagger

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN = FIXTURES / "wikigold_train100.conll"
PACKAGE = Path(__file__).resolve().parents[1] / "nertag"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("pristine") / "model"
    tagger = build_tagger(Config(hidden=4, char_dim=2, char_hidden=2, word_dim=4), load_conll(TRAIN)[:30],
                          log=lambda _: None)
    ModelDir(directory).save(tagger)
    return directory


@pytest.fixture
def model(pristine, tmp_path) -> Path:
    """A fresh copy of a small model, to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "model"))


def refused(model: Path, *fragments: str) -> str:
    """Loading fails with a ModelError holding the fragments, and `nertag info` says the same in one line."""
    with pytest.raises(ModelError) as caught:
        Tagger.load(model)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    result = CliRunner().invoke(app, ["info", "--model", str(model)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"nertag: error: {message}\n"
    return message


def weights(model: Path) -> dict[str, np.ndarray]:
    with np.load(model / "weights.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


class Hostile:
    """Unpickled, it creates the file ``marker``: the proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pristine_model_loads(model):
    tagger = Tagger.load(model)
    assert np.array_equal(tagger.buffer.data, Tagger.load(model).buffer.data)
    assert set(weights(model)) == {f"param/{name}" for name in tagger.buffer.named()}


# -- damaged weights -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 0.5, 0.99])
def test_truncated_weights(model, keep):
    path = model / "weights.npz"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    refused(model, str(path), "damaged model weights: not an .npz archive")


def test_corrupted_weights(model):
    path = model / "weights.npz"
    data = bytearray(path.read_bytes())
    start = data.index(b"param/") + 200  # inside the first array's data
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    refused(model, str(path), "damaged or truncated model weights", "CRC")


def test_truncated_array_inside_a_valid_archive(model):
    arrays = weights(model)
    name = next(iter(arrays))
    header = np.lib.format.header_data_from_array_1_0(np.zeros(10**9))
    with zipfile.ZipFile(model / "weights.npz", "w") as archive:  # a header promising a gigabyte of data
        with archive.open(f"{name}.npy", "w") as entry:
            np.lib.format.write_array_header_1_0(entry, header)
            entry.write(b"\0" * 64)
    refused(model, f"array {name} of shape (1000000000,) needs 8000000000 bytes, the archive holds")


def test_wrong_shape(model):
    arrays = weights(model)
    name = next(n for n, a in arrays.items() if a.ndim == 2)
    arrays[name] = arrays[name][:, :-1]
    files.write_npz(model / "weights.npz", arrays)
    refused(model, f"parameter {name[len('param/'):]} has shape", "the configuration expects")


def test_missing_and_unexpected_parameters(model):
    arrays = weights(model)
    name = next(iter(arrays))
    arrays["param/9.Extra.W"] = arrays.pop(name)
    files.write_npz(model / "weights.npz", arrays)
    refused(model, "model weights do not match the configuration", f"missing ['{name[len('param/'):]}']",
            "unexpected ['9.Extra.W']")


@pytest.mark.parametrize("value, fragment", [
    (np.nan, "holds NaN or infinite values"),
    (np.inf, "holds NaN or infinite values"),
])
def test_non_finite_weights(model, value, fragment):
    arrays = weights(model)
    name = next(iter(arrays))
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] = value
    files.write_npz(model / "weights.npz", arrays)
    refused(model, fragment)


@pytest.mark.parametrize("dtype, fragment", [
    ("int64", "expected floating point"),
    ("complex128", "expected numbers or text"),
    ("V8", "expected numbers or text"),
    ([("a", "f4"), ("b", "f4")], "expected numbers or text"),
])
def test_foreign_dtypes(model, dtype, fragment):
    arrays = weights(model)
    name = next(iter(arrays))
    arrays[name] = np.zeros(arrays[name].shape, dtype=dtype)
    files.write_npz(model / "weights.npz", arrays)
    refused(model, fragment)


def test_other_files_in_place_of_weights(model):
    path = model / "weights.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))  # a .npy, not an archive
    refused(model, "not an .npz archive")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "hello")
    refused(model, "unexpected entry 'README.txt'")
    path.unlink()
    path.mkdir()
    refused(model, str(path), "is a directory")


# -- pickle ------------------------------------------------------------------------------------------------------
def test_pickled_object_in_the_archive_is_refused_and_never_run(model, tmp_path):
    marker = tmp_path / "code-ran"
    arrays = weights(model)
    name = next(iter(arrays))
    np.savez(model / "weights.npz", **{**arrays, name: np.array([Hostile(marker)], dtype=object)})
    # the file is really hostile: numpy would run it if asked to unpickle
    with np.load(model / "weights.npz", allow_pickle=True) as archive:
        archive[name]
    assert marker.exists()
    marker.unlink()
    refused(model, "holds pickled Python objects", name, "which nertag never loads")
    assert not marker.exists()


def test_a_pickle_file_in_place_of_weights_is_refused_and_never_run(model, tmp_path):
    marker = tmp_path / "code-ran"
    (model / "weights.npz").write_bytes(pickle.dumps({"param/x": Hostile(marker)}))
    refused(model, "not an .npz archive")
    assert not marker.exists()


def test_the_library_never_unpickles():
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib|shelve|marshal)\b", source, re.M), path
        assert "allow_pickle=True" not in source and "np.load(" not in source, path
        assert not re.search(r"\b(eval|exec)\(", source), path


# -- the JSON files ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fragment", [
    ("config.json", "missing model configuration; is"),
    ("vocab.json", "missing vocabularies; is"),
    ("meta.json", "missing model metadata; is"),
    ("weights.npz", "missing model weights"),
])
def test_missing_files(model, name, fragment):
    (model / name).unlink()
    refused(model, str(model / name), fragment)


def test_a_run_that_has_not_finished_an_epoch(model):
    (model / "weights.npz").rename(model / "checkpoint.npz")
    refused(model, "missing model weights: the training run in", "has not finished an epoch yet",
            f"nertag train --resume {model}")


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def add_tag(vocab: dict, tag) -> None:
    vocab["tags"]["tokens"].append(tag)
    vocab["tags"]["counts"].append(1)


def test_model_from_a_newer_version(model):
    edit_json(model / "meta.json", lambda m: m.update(format_version=FORMAT_VERSION + 1,
                                                     nertag_version="9.0.0"))
    refused(model, str(model / "meta.json"),
            f"model format version {FORMAT_VERSION + 1} (written by nertag 9.0.0)",
            "is newer than this nertag", "upgrade nertag")


def test_config_with_keys_of_a_newer_version(model):
    edit_json(model / "config.json", lambda c: c.update(attention_heads=4))
    refused(model, str(model / "config.json"), "unknown configuration keys ['attention_heads']", "newer")


@pytest.mark.parametrize("file, change, fragment", [
    ("config.json", lambda c: c.update(hidden="4"), "hidden must be a whole number, got '4'"),
    ("config.json", lambda c: c.update(hidden=-4), "hidden must be at least 1"),
    ("config.json", lambda c: c.update(scheme="BILOU"), "scheme must be IOB1, IOB2 or BIOES"),
    ("meta.json", lambda m: m.update(format="spacy-model"), "not a nertag model (expected format 'nertag-model'"),
    ("meta.json", lambda m: m.update(format_version="1"), "expected a format_version number, found '1'"),
    ("meta.json", lambda m: m.update(input_scheme="BILOU"), "input_scheme must be IOB1, IOB2 or BIOES"),
    ("vocab.json", lambda v: v.pop("chars"), "damaged vocabularies (KeyError"),
    ("vocab.json", lambda v: v["words"].update(counts=[1]), "damaged vocabularies (ValueError: expected one count"),
    ("vocab.json", lambda v: add_tag(v, "PER"), "tags do not fit the configuration's scheme BIOES"),
    ("vocab.json", lambda v: add_tag(v, 7), "every token must be a string"),
    ("vocab.json", lambda v: v["tags"].update(unk="<unk>"), "the tag vocabulary must list tags only"),
])
def test_damaged_json(model, file, change, fragment):
    edit_json(model / file, change)
    refused(model, str(model / file), fragment)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "\xff"])
def test_json_that_is_not_an_object(model, text):
    (model / "config.json").write_bytes(text.encode("latin-1"))
    refused(model, str(model / "config.json"), "damaged model configuration")


def test_vocabulary_that_does_not_fit_the_weights(model):
    edit_json(model / "meta.json", lambda m: m.pop("vocab_sha256"))  # a model saved before checksums
    edit_json(model / "vocab.json", lambda v: v["words"].update(tokens=v["words"]["tokens"][:-1],
                                                                counts=v["words"]["counts"][:-1]))
    refused(model, "Embedding.W has shape", "the configuration expects")


def test_damaged_checkpoint_is_refused_by_resume(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--conll", str(TRAIN), "--hidden", "4", "--char-dim", "0", "--word-dim", "4", "--no-progress",
            "--epochs", "1"]
    assert CliRunner().invoke(app, [*args, "--model-dir", str(run)]).exit_code == 0
    checkpoint = run / "checkpoint.npz"
    with np.load(checkpoint, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for damage, fragment in [
        (lambda a: a.pop("state"), "damaged checkpoint (KeyError"),
        (lambda a: a.update(state=np.array("{not json")), "damaged checkpoint, not valid JSON"),
        (lambda a: a.update(state=np.array('{"epoch": 1}')), "damaged checkpoint: the training state lacks batch, "),
        (lambda a: a.update({"opt/slot.velocity": np.zeros(3, np.float32)}), "optimiser state does not fit"),
    ]:
        copy = {k: v for k, v in arrays.items()}
        damage(copy)
        files.write_npz(checkpoint, copy)
        result = CliRunner().invoke(app, [*args, "--resume", str(run)])
        assert result.exit_code == 2 and fragment in result.stderr and len(result.stderr.splitlines()) == 1, \
            result.stderr
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    result = CliRunner().invoke(app, [*args, "--resume", str(run)])
    assert result.exit_code == 2 and "damaged checkpoint: not an .npz archive" in result.stderr


# -- the ModelDir type -------------------------------------------------------------------------------------------
FILE_NAMES = ("config.json", "vocab.json", "meta.json", "weights.npz", "checkpoint.npz", "metrics.jsonl")


def test_only_model_dir_names_the_files():
    """Outside docstrings, the file names of a model directory are spelled in nertag/model_dir.py only."""
    import ast
    for path in PACKAGE.rglob("*.py"):
        if path.name == "model_dir.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert not any(name in node.value for name in FILE_NAMES), (path, node.lineno, node.value)


def test_model_dir_checks(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for check in (ModelDir.existing, ModelDir.resumable):
        with pytest.raises(ModelError, match=r"missing: no such model directory$"):
            check(tmp_path / "missing")
        with pytest.raises(ModelError, match=r"file: not a directory; a model is a directory with config.json"):
            check(a_file)
    with pytest.raises(NertagError, match=r"empty: no checkpoint.npz to resume from .*start it again without "
                                          r"--resume$"):
        (tmp_path / "empty").mkdir()
        ModelDir.resumable(tmp_path / "empty")
    assert ModelDir.for_new_run(tmp_path / "new" / "deeper").path == tmp_path / "new" / "deeper"
    with pytest.raises(NertagError, match=r"file: exists and is not a directory; choose another --model$"):
        ModelDir.for_new_run(a_file)
    with pytest.raises(NertagError, match=rf"sub: cannot create the model directory, {re.escape(str(a_file))} is a "
                                          r"file$"):
        ModelDir.for_new_run(a_file / "sub")
    for name, what in (("weights.npz", "a model"), ("checkpoint.npz", "a training run"),
                       ("config.json", "a file of its own \\(config.json\\)")):
        occupied = tmp_path / f"with-{name}"
        occupied.mkdir()
        (occupied / name).write_bytes(b"")
        (occupied / "notes.txt").write_text("mine")
        resume = f"--resume {re.escape(str(occupied))} continues it, " if name == "checkpoint.npz" else ""
        with pytest.raises(NertagError, match=rf"holds {what} already; {resume}--overwrite replaces the files a "
                                              r"run writes, or choose another --model$"):
            ModelDir.for_new_run(occupied)
        assert ModelDir.for_new_run(occupied, overwrite=True).path == occupied
        assert sorted(p.name for p in occupied.iterdir()) == ["notes.txt"]  # only the run's files went


def test_a_run_killed_before_its_first_checkpoint_starts_again_in_place(tmp_path):
    """meta.json, written first, marks the directory as a run's: without a checkpoint it may start over."""
    ModelDir(tmp_path / "m").path.mkdir()
    ModelDir(tmp_path / "m").write_meta({"input_scheme": "IOB1"})
    (tmp_path / "m" / "config.json").write_text("{}")
    assert ModelDir.for_new_run(tmp_path / "m").path == tmp_path / "m"


def test_model_dir_writes_what_it_reads(pristine, tmp_path):
    tagger = Tagger.load(pristine)
    copy = ModelDir(tmp_path / "copy")
    copy.save(tagger)
    for name in ("config.json", "vocab.json", "weights.npz"):
        assert (copy.path / name).read_bytes() == (pristine / name).read_bytes(), name
    described = ModelDir.existing(copy.path).describe()
    assert (described.config, described.words, described.chars, described.tags) == (
        tagger.config, tagger.words, tagger.chars, tagger.tags)
    assert described.meta == json.loads((pristine / "meta.json").read_text())
    copy.write_metrics([{"epoch": 1}, {"epoch": 2}])
    assert copy.metrics_file.read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    (copy.path / ".weights.npz.0000dead.tmp").write_bytes(b"half")
    copy.remove_stale_temporaries()
    assert sorted(p.name for p in copy.path.iterdir()) == ["config.json", "meta.json", "metrics.jsonl", "vocab.json",
                                                           "weights.npz"]
