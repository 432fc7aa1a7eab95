"""`nertag train` has one option per Config field, built from the field (issue 15)."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nertag.train
from nertag.cli import app
from nertag.config import Config, field_help

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN = FIXTURES / "wikigold_train100.conll"
EVERY_FIELD = {  # option arguments, and the Config they make: a value other than the default for every field
    "word_dim": (["--word-dim", "7"], 7), "char_dim": (["--char-dim", "3"], 3),
    "char_hidden": (["--char-hidden", "2"], 2), "hidden": (["--hidden", "5"], 5),
    "dropout": (["--dropout", "0.25"], 0.25), "scheme": (["--scheme", "bio"], "IOB2"),
    "lowercase": (["--lowercase"], True), "normalise_digits": (["--keep-digits"], False),
    "embeddings_vocab": (["--embeddings-vocab", "all"], "all"), "freeze_words": (["--freeze-words"], True),
    "min_count": (["--min-count", "2"], 2), "singleton_unk": (["--singleton-unk", "0.25"], 0.25),
    "max_length": (["--max-length", "99"], 99), "optimizer": (["--optimizer", "sgd"], "sgd"),
    "lr": (["--lr", "0.5"], 0.5), "momentum": (["--momentum", "0.5"], 0.5),
    "lr_decay": (["--lr-decay", "0.5"], 0.5), "clip": (["--clip", "1"], 1.0),
    "weight_decay": (["--weight-decay", "0.5"], 0.5), "ema_decay": (["--ema-decay", "0.5"], 0.5),
    "batch_size": (["--batch-size", "3"], 3), "epochs": (["--epochs", "2"], 2),
    "patience": (["--patience", "1"], 1), "seed": (["--seed", "9"], 9), "dtype": (["--dtype", "float64"], "float64"),
    "constrained": (["--unconstrained"], False), "cell": (["--cell", "lstm"], "lstm"),
    "char_encoder": (["--char-encoder", "lstm"], "lstm"), "char_window": (["--char-window", "5"], 5),
}


@pytest.fixture
def calls(monkeypatch) -> list:
    """What `nertag train` passes to the library, which does nothing."""
    seen = []

    def train(config, *args, **kwargs):
        seen.append((config, kwargs))
        return nertag.train.TrainResult(Path("m"), "finished", 0, 0, None)

    monkeypatch.setattr(nertag.train, "train", train)
    return seen


def test_every_field_has_an_option_with_its_comment_as_help():
    assert set(EVERY_FIELD) == {f.name for f in fields(Config)}
    descriptions = field_help()
    assert set(descriptions) == set(EVERY_FIELD)  # every field is commented
    text = " ".join(CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400"}).stdout.split())
    for name, (args, _) in EVERY_FIELD.items():
        assert args[0] in text, name
        assert descriptions[name][1:40] in text, name


def test_each_option_sets_its_field(calls):
    args = [a for option, _ in EVERY_FIELD.values() for a in option]
    result = CliRunner().invoke(app, ["train", "--conll", str(TRAIN), *args])
    assert result.exit_code == 0, (result.stderr, result.exception)
    [(config, options)] = calls
    assert config == Config(**{name: value for name, (_, value) in EVERY_FIELD.items()})
    assert options["resume"] is False


def test_resume_passes_only_the_values_given(calls, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.npz").write_bytes(b"")  # enough for the command's check; the library reads it
    (tmp_path / "c.json").write_text('{"patience": 3}')
    result = CliRunner().invoke(app, ["train", "--conll", str(TRAIN), "--resume", str(run), "--epochs", "9",
                                      "--config", str(tmp_path / "c.json"), "--scheme", "iobes"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    [(config, options)] = calls
    assert config == {"patience": 3, "epochs": 9, "scheme": "BIOES"} and options["resume"] is True
    assert options["model_dir"].path == run


def test_resume_checks_the_directory_once_and_reads_each_file_once(tmp_path, monkeypatch):
    import nertag.model_dir
    run = tmp_path / "run"
    tiny = ["--hidden", "4", "--char-dim", "0", "--word-dim", "4", "--no-progress", "--epochs", "1"]
    assert CliRunner().invoke(app, ["train", "--conll", str(TRAIN), "--model-dir", str(run), *tiny]).exit_code == 0
    reads, checks = [], []
    read_json, read_npz = nertag.model_dir.read_json, nertag.model_dir.read_npz
    existing = nertag.model_dir.ModelDir.existing.__func__
    monkeypatch.setattr(nertag.model_dir, "read_json", lambda path, what: reads.append(path.name) or
                        read_json(path, what))
    monkeypatch.setattr(nertag.model_dir, "read_npz", lambda path, *rest: reads.append(path.name) or
                        read_npz(path, *rest))
    monkeypatch.setattr(nertag.model_dir.ModelDir, "existing",
                        classmethod(lambda cls, path: checks.append(path) or existing(cls, path)))
    result = CliRunner().invoke(app, ["train", "--conll", str(TRAIN), "--resume", str(run), "--epochs", "2",
                                      "--no-progress"])
    assert result.exit_code == 0 and "finished after 2 epochs" in result.stdout, (result.stderr, result.exception)
    assert checks == [run]
    assert sorted(reads) == ["checkpoint.npz", "config.json", "meta.json", "vocab.json"]
