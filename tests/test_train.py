"""Training that survives interruption: checkpoints, resume, divergence, reproducibility (issues 6 and 9).

The promise under test: same seed, same data, one thread, and a run interrupted anywhere and resumed
ends with the very bytes of an uninterrupted run. These in-process tests interrupt at every file write (and
with real signals sent to this process); reliability/test_signals.py sends SIGINT, SIGTERM and SIGKILL to a
real `python -m nertag train`.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from run_outcome import DEV_PATH, TRAIN_PATH, assert_same, outcome

import nertag.files
import nertag.model_dir
from nertag.config import Config
from nertag.data.conll import Sentence, load_conll
from nertag.network import TaggerNet
from nertag.model_dir import ModelDir, load_weights
from nertag.tagger import Tagger
from nertag.train import TrainingDiverged, build_tagger, split_long, train

TRAIN, DEV = load_conll(TRAIN_PATH), load_conll(DEV_PATH)
CONFIG = Config(hidden=8, char_dim=4, char_hidden=4, word_dim=8, epochs=3, seed=7)  # 10 batches an epoch


def quiet(_message):
    pass


def run(model_dir, config=CONFIG, **options):
    options.setdefault("checkpoint_seconds", 1e9)
    return train(config, TRAIN, DEV, model_dir=model_dir, progress=False, log=quiet, **options)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("reference") / "model"
    result = run(directory)
    assert result.status == "finished" and result.epochs == 3
    return outcome(directory)


def test_checkpoints_within_epochs_change_nothing(reference, tmp_path):
    run(tmp_path / "m", checkpoint_seconds=0)
    assert_same(outcome(tmp_path / "m"), reference)


# -- interrupted by a signal, in process -------------------------------------------------------------------------
@contextlib.contextmanager
def signal_at_step(monkeypatch, step: int, signum=signal.SIGINT):
    """Send ``signum`` to this process during training step ``step`` (1-based), as Ctrl-C would."""
    original, calls = TaggerNet.loss, [0]

    def loss(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == step:
            os.kill(os.getpid(), signum)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TaggerNet, "loss", loss)
    yield
    monkeypatch.setattr(TaggerNet, "loss", original)


@pytest.mark.parametrize("step, signum", [(1, signal.SIGINT), (7, signal.SIGTERM), (10, signal.SIGINT),
                                          (11, signal.SIGINT), (26, signal.SIGTERM)])
def test_resume_after_a_signal_is_bit_identical(reference, tmp_path, monkeypatch, step, signum):
    directory = tmp_path / "m"
    before = signal.getsignal(signal.SIGINT)  # the default handler, or SIG_IGN when started in the background
    with signal_at_step(monkeypatch, step, signum):
        stopped = run(directory)
    assert stopped.status == "interrupted" and stopped.signal == signum
    assert stopped.epochs == (step - 1) // 10  # finished epochs; the batch under way was finished and saved
    tagger = Tagger.from_files(directory)  # the checkpoint loads
    state = json.loads(str(load_weights(directory / "checkpoint.npz", tagger.buffer.named())["state"]))
    assert (state["epoch"], state["batch"]) == ((step - 1) // 10, (step - 1) % 10 + 1)
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    resumed = train(None, TRAIN, DEV, model_dir=directory, resume=True, progress=False, log=quiet)
    assert resumed.status == "finished" and resumed.epochs == 3 and resumed.signal is None
    assert_same(outcome(directory), reference)


def test_interrupted_twice(reference, tmp_path, monkeypatch):
    directory = tmp_path / "m"
    with signal_at_step(monkeypatch, 4):
        assert run(directory).status == "interrupted"
    with signal_at_step(monkeypatch, 12):  # step 16 of the run
        assert train(None, TRAIN, DEV, model_dir=directory, resume=True, progress=False, log=quiet).status == \
            "interrupted"
    train(None, TRAIN, DEV, model_dir=directory, resume=True, progress=False, log=quiet)
    assert_same(outcome(directory), reference)


# -- killed at any moment: at every file write -------------------------------------------------------------------
def test_killed_before_any_write_resumes_bit_identically(reference, tmp_path, monkeypatch):
    """Snapshot the model directory as it is when each write starts (a kill then loses that write and
    leaves its temporary file), and finish the run from every snapshot."""
    directory, snapshots = tmp_path / "m", []
    original = nertag.files.atomic_open

    @contextlib.contextmanager
    def spying_open(path, *args, **kwargs):
        snapshot = tmp_path / f"snapshot{len(snapshots):03d}"
        shutil.copytree(directory, snapshot) if directory.exists() else snapshot.mkdir()
        (snapshot / f".{Path(path).name}.0000dead.tmp").write_bytes(b"half a file")
        snapshots.append(snapshot)
        with original(path, *args, **kwargs) as f:
            yield f

    monkeypatch.setattr(nertag.files, "atomic_open", spying_open)
    monkeypatch.setattr(nertag.model_dir, "atomic_open", spying_open)
    run(directory, checkpoint_seconds=0)
    monkeypatch.undo()
    assert len(snapshots) > 40  # 3 files and a checkpoint to start, then 10 checkpoints and more per epoch
    for snapshot in snapshots[::3] + [snapshots[-1]]:
        resume = (snapshot / "checkpoint.npz").exists()
        run(snapshot, resume=resume)  # no checkpoint yet: the run starts again in the same directory
        assert_same(outcome(snapshot), reference)
        assert not list(snapshot.glob(".*.tmp"))


# -- changing what may change ------------------------------------------------------------------------------------
def test_resume_with_more_epochs_equals_a_longer_run(tmp_path):
    run(tmp_path / "short", CONFIG.replace(epochs=2))
    result = run(tmp_path / "short", CONFIG.replace(epochs=4), resume=True)
    assert result.epochs == 4 and json.loads((tmp_path / "short" / "config.json").read_text())["epochs"] == 4
    run(tmp_path / "long", CONFIG.replace(epochs=4))
    assert_same(outcome(tmp_path / "short"), outcome(tmp_path / "long"))


def test_resume_of_a_finished_or_early_stopped_run(tmp_path):
    config = CONFIG.replace(patience=1, epochs=5)
    first = run(tmp_path / "m", config)
    again = run(tmp_path / "m", config, resume=True)
    assert again.status == first.status and again.epochs == first.epochs and again.best_epoch == first.best_epoch


# -- frozen word vectors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_words_keeps_the_pretrained_vectors(tmp_path, freeze):
    rng = np.random.default_rng(0)
    words = sorted({w.lower() for s in TRAIN for w in s.words})[::2]
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{w} {' '.join(f'{v:.5f}' for v in rng.normal(size=8))}\n" for w in words))
    config = CONFIG.replace(freeze_words=freeze, epochs=2)
    initial = build_tagger(config, TRAIN, DEV, vectors, log=quiet).net
    run(tmp_path / "m", config, embeddings=vectors)
    trained = Tagger.load(tmp_path / "m").net
    assert trained.words.p["W"].shape == initial.words.p["W"].shape
    assert np.array_equal(trained.words.p["W"], initial.words.p["W"]) == freeze
    assert not np.array_equal(trained.chars.p["W"], initial.chars.p["W"])  # the rest of the network learns
    assert not np.array_equal(trained.project.p["W"], initial.project.p["W"])


# -- a moving average of the parameters --------------------------------------------------------------------------
def test_averaged_run_saves_the_average_and_resumes_bit_identically(tmp_path, monkeypatch):
    config = CONFIG.replace(ema_decay=0.9)
    result = train(config, TRAIN, model_dir=tmp_path / "plain", progress=False, log=quiet)  # no dev: keep the last
    assert result.status == "finished"
    saved = nertag.files.read_npz(tmp_path / "plain" / "checkpoint.npz", "checkpoint")
    weights = Tagger.load(tmp_path / "plain").buffer.data
    np.testing.assert_array_equal(weights, saved["avg/average"])  # the model is the average ...
    assert not np.allclose(weights, _trained(tmp_path / "plain"))
    assert int(saved["avg/n"]) == 30  # ... of every step

    reference = run(tmp_path / "whole", config)
    with signal_at_step(monkeypatch, 14):
        assert run(tmp_path / "cut", config).status == "interrupted"
    run(tmp_path / "cut", None, resume=True)
    assert_same(outcome(tmp_path / "cut"), outcome(tmp_path / "whole"))
    unaveraged = run(tmp_path / "unaveraged", CONFIG)
    assert [row["dev"] for row in reference.history] != [row["dev"] for row in unaveraged.history]  # the average's


def _trained(model_dir):
    """The trained (not averaged) parameters in the checkpoint of ``model_dir``, as one flat vector."""
    tagger = Tagger.load(model_dir)
    load_weights(model_dir / "checkpoint.npz", tagger.buffer.named(), "checkpoint")
    return tagger.buffer.data.copy()


# -- divergence --------------------------------------------------------------------------------------------------
def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    directory, written = tmp_path / "m", []
    original_checkpoint, original_loss, calls = ModelDir.save_checkpoint, TaggerNet.loss, [0]

    def checkpoint(files, *args):
        original_checkpoint(files, *args)
        written.append((files.path / "checkpoint.npz").read_bytes())

    def loss(self, *args, **kwargs):
        calls[0] += 1
        value = original_loss(self, *args, **kwargs)
        return float("nan") if calls[0] == 15 else value

    monkeypatch.setattr(ModelDir, "save_checkpoint", checkpoint)
    monkeypatch.setattr(TaggerNet, "loss", loss)
    with pytest.raises(TrainingDiverged) as caught:
        run(directory)
    assert str(caught.value) == (
        f"training diverged at step 15 (epoch 2, batch 5 of 10): the loss is nan; the last good checkpoint, "
        f"epoch 1 batch 0, is intact in {directory / 'checkpoint.npz'}; start a new run with a lower --lr or a --clip")
    assert (directory / "checkpoint.npz").read_bytes() == written[-1]  # as the end of epoch 1 left it
    monkeypatch.undo()
    tagger = Tagger.load(directory)
    state = json.loads(str(load_weights(directory / "checkpoint.npz", tagger.buffer.named())["state"]))
    assert (state["epoch"], state["batch"]) == (1, 0)
    assert not list(directory.glob(".*.tmp"))


def test_non_finite_gradient_stops_with_the_step(tmp_path, monkeypatch):
    original_loss, calls = TaggerNet.loss, [0]

    def loss(self, *args, **kwargs):
        value = original_loss(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == 3:
            self.project.g["W"][0, 0] = np.inf
        return value

    monkeypatch.setattr(TaggerNet, "loss", loss)
    with pytest.raises(TrainingDiverged, match=r"at step 3 \(epoch 1, batch 3 of 10\): a gradient is not finite; "
                                                r"the last good checkpoint, epoch 0 batch 0, is intact"):
        run(tmp_path / "m")
    monkeypatch.undo()
    Tagger.from_files(tmp_path / "m")  # and the step-0 checkpoint is there to resume
    assert run(tmp_path / "m", resume=True).status == "finished"


def overflow_emissions_at_call(monkeypatch, n: int) -> None:
    """From the n-th call on, one emission is +inf: what huge but finite weights do, whatever the BLAS kernel."""
    original, calls = TaggerNet.emissions, [0]

    def emissions(self, *args, **kwargs):
        E, backprop = original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] >= n:
            E[0, 0, 0] = np.inf
        return E, backprop

    monkeypatch.setattr(TaggerNet, "emissions", emissions)


def test_overflowing_emissions_are_divergence_and_keep_the_checkpoint(tmp_path, monkeypatch):
    directory = tmp_path / "m"
    overflow_emissions_at_call(monkeypatch, 4)
    with pytest.raises(TrainingDiverged) as caught:
        run(directory)
    assert re.fullmatch(
        r"training diverged at step 4 \(epoch 1, batch 4 of 10\): the CRF emissions are not finite \(1 of \d+ "
        r"values NaN or infinite\); the last good checkpoint, epoch 0 batch 0, is intact in "
        + re.escape(str(directory / "checkpoint.npz")) + r"; start a new run with a lower --lr or a --clip",
        str(caught.value)), str(caught.value)
    assert "constraints" not in str(caught.value)
    monkeypatch.undo()
    tagger = Tagger.from_files(directory)
    state = json.loads(str(load_weights(directory / "checkpoint.npz", tagger.buffer.named())["state"]))
    assert (state["epoch"], state["batch"]) == (0, 0)
    assert run(directory, resume=True).status == "finished"


def test_overflowing_emissions_from_the_command_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nertag.cli import app
    overflow_emissions_at_call(monkeypatch, 2)
    result = CliRunner().invoke(app, ["train", "--conll", str(TRAIN_PATH), "--model-dir", str(tmp_path / "m"),
                                      "--hidden", "8", "--char-dim", "4", "--char-hidden", "4", "--word-dim", "8",
                                      "--epochs", "1", "--no-progress"])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, (result.stderr, result.exception)
    assert result.stderr.startswith("nertag: error: training diverged at step 2 (epoch 1, batch 2 of 10): the CRF "
                                    "emissions are not finite"), result.stderr


def test_absurd_learning_rate_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from nertag.cli import app
    args = ["train", "--conll", str(TRAIN_PATH), "--model-dir", str(tmp_path / "m"), "--hidden", "8", "--char-dim",
            "4", "--char-hidden", "4", "--word-dim", "8", "--epochs", "3", "--no-progress", "--clip", "0",
            "--optimizer", "sgd"]  # plain SGD: the step is lr times the gradient, so lr alone overflows
    for lr in ("1e38", "1e30"):  # overflowing parameters; huge but finite ones are allowed to train on
        shutil.rmtree(tmp_path / "m", ignore_errors=True)
        result = CliRunner().invoke(app, [*args, "--lr", lr])
        if lr == "1e38":
            assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, (result.stderr, result.exception)
            assert "training diverged at step 1 (epoch 1): the parameters are no longer finite" in result.stderr
            tagger = Tagger.from_files(tmp_path / "m")
            load_weights(tmp_path / "m" / "checkpoint.npz", tagger.buffer.named())  # finite, loadable
        else:
            # Which BLAS kernel runs decides whether the scores overflow; either way no traceback.
            assert result.exit_code in (0, 2) and isinstance(result.exception, (SystemExit, type(None)))
            if result.exit_code == 2:
                assert len(result.stderr.splitlines()) == 1, result.stderr
                assert result.stderr.startswith("nertag: error: training diverged at step "), result.stderr


def test_split_long_cuts_outside_entities():
    words = [f"w{i}" for i in range(9)]
    tags = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "I-LOC", "O"]
    s = Sentence(words, tags, [[w, t] for w, t in zip(words, tags)], doc=3, line=10)
    logged = []
    pieces = split_long([s, Sentence(["a"], ["O"], [["a", "O"]])], 4, "train.txt", logged.append)
    # cuts at the last token that begins an entity or is O: 4 (B-LOC), then 8 (O); the short one untouched
    assert [p.tags for p in pieces] == [tags[:4], tags[4:8], tags[8:], ["O"]]
    assert [(p.line, p.doc) for p in pieces[:3]] == [(10, 3), (14, 3), (18, 3)] and pieces[0].columns[0] == ["w0", "B-PER"]
    assert logged == ["train.txt: 1 sentence longer than 4 tokens (--max-length) trained in pieces: line 10 (9 tokens)"]
    inside = Sentence(words[:6], ["B-PER"] + ["I-PER"] * 5, [[w] for w in words[:6]])
    assert [len(p) for p in split_long([inside], 4, "x", logged.append)] == [4, 2]  # no way around a cut
    assert split_long([s], 9, "x", logged.append) == [s] and len(logged) == 2


def test_best_only_on_a_real_score_and_newest_without_dev(tmp_path, monkeypatch):
    """Dev F1 0, 0, 30, 20: epochs 1 and 2 are saved (no real score yet) but not best, epoch 3 is best and
    stays saved; resumed without dev data, every further epoch is saved, and the log says so."""
    scores = iter([0.0, 0.0, 30.0, 20.0])

    def fake_evaluate(self, sentences, scheme, **kwargs):
        f1 = next(scores)
        return {"overall": {"precision": f1, "recall": f1, "f1": f1}}, []

    monkeypatch.setattr(Tagger, "evaluate", fake_evaluate)
    saved = []
    monkeypatch.setattr(ModelDir, "save_weights", lambda self, named: saved.append(len(saved)))
    result = run(tmp_path / "m", CONFIG.replace(epochs=4, patience=5))
    assert result.best_epoch == 3 and len(saved) == 3  # epochs 1, 2 (nothing better yet) and 3
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert (meta["best_epoch"], meta["saved_epoch"], meta["scores"]["dev"]["f1"]) == (3, 3, 30.0)
    logged = []
    resumed = train(CONFIG.replace(epochs=6), TRAIN, None, model_dir=tmp_path / "m", resume=True,
                    progress=False, log=logged.append)
    assert len(saved) == 5 and resumed.best_epoch == 6
    assert "no dev data: the model of each epoch from now on is saved, in place of the best dev epoch 3" in logged
    assert json.loads((tmp_path / "m" / "meta.json").read_text())["saved_epoch"] == 6


def test_lstm_cells_train_save_and_load(tmp_path):
    """--cell lstm and --char-encoder lstm: recorded in config.json, the loaded model tags as the trained one;
    a configuration without the keys (every model before them) is a GRU model."""
    from nertag.net.gru import GRU
    from nertag.net.lstm import LSTM

    result = run(tmp_path / "m", CONFIG.replace(cell="lstm", char_encoder="lstm", epochs=1))
    assert result.status == "finished"
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (saved["cell"], saved["char_encoder"]) == ("lstm", "lstm")
    tagger = Tagger.load(tmp_path / "m")
    assert isinstance(tagger.net.rnn.fwd, LSTM) and isinstance(tagger.net.char_rnn.bwd, LSTM)
    sentences = [s.words for s in load_conll(DEV_PATH)[:5]]
    assert [t.tags for t in tagger.tag_sentences(sentences)] == [t.tags for t in Tagger.load(tmp_path / "m")
                                                                 .tag_sentences(sentences)]
    old = {k: v for k, v in saved.items() if k not in ("cell", "char_encoder")}
    assert Config.from_dict(old).cell == "gru"
    assert isinstance(TaggerNet(Config.from_dict(old), 10, 10, 5).rnn.fwd, GRU)


def test_cnn_character_encoder_trains_and_reloads(tmp_path):
    """--char-encoder cnn (Ma and Hovy: filters of 3 characters, max over the word): recorded and reloaded."""
    from nertag.net.conv import Conv1D

    config = CONFIG.replace(char_encoder="cnn", char_hidden=6, char_window=3, epochs=1)
    assert run(tmp_path / "m", config).status == "finished"
    tagger = Tagger.load(tmp_path / "m")
    assert isinstance(tagger.net.char_cnn.children[0], Conv1D) and tagger.config.char_window == 3
    assert json.loads((tmp_path / "m" / "config.json").read_text())["char_encoder"] == "cnn"
    assert tagger.net.rnn.n_in == 8 + 6  # word vectors and the 6 filters


@pytest.mark.parametrize("cell, char_encoder", [("gru", "gru"), ("lstm", "lstm"), ("gru", "cnn"), ("lstm", "cnn")])
def test_whole_network_gradients_for_every_cell_and_character_encoder(cell, char_encoder):
    """The tagger network's CRF loss against central differences over all its parameters (float64, uneven
    sentences and words, no dropout)."""
    from nertag.data.batches import encode_sentences, pad
    from nertag.net.gradcheck import check_param_grads

    sentences = load_conll(TRAIN_PATH)[:3]
    config = Config(word_dim=3, char_dim=2, char_hidden=2, hidden=2, dropout=0.0, dtype="float64", cell=cell,
                    char_encoder=char_encoder)
    tagger = build_tagger(config, sentences, log=lambda _: None)
    batch = pad(encode_sentences(sentences, tagger.words, tagger.chars, tagger.tags,
                                 schemes=(tagger.meta["input_scheme"], config.scheme)))
    assert len(set(batch.lengths.tolist())) > 1
    # (eps 1e-4: the loss sums three sentences, and smaller steps drown in its rounding)
    assert check_param_grads(lambda: tagger.net.loss(batch), tagger.buffer, eps=1e-4) < 1e-5


def test_cnn_character_encoder_reads_dropped_character_embeddings():
    """Ma and Hovy drop character embeddings before the CNN: in training about `dropout` of the CNN's real
    inputs are 0 and the rest scaled; at prediction it reads the embeddings as they are."""
    from nertag.data.batches import encode_sentences, pad

    sentences = load_conll(TRAIN_PATH)[:20]
    config = Config(word_dim=3, char_dim=8, char_hidden=4, hidden=2, dropout=0.5, dtype="float64",
                    char_encoder="cnn")
    tagger = build_tagger(config, sentences, log=lambda _: None)
    batch = pad(encode_sentences(sentences, tagger.words, tagger.chars, tagger.tags,
                                 schemes=(tagger.meta["input_scheme"], config.scheme)))
    seen = []
    cnn_forward = tagger.net.char_cnn.forward
    tagger.net.char_cnn.forward = lambda X, lengths, rng: (seen.append(X.copy()), cnn_forward(X, lengths, rng))[1]
    tagger.net.loss(batch, np.random.default_rng(0))
    tagger.net.emissions(batch, grad=False)
    trained, predicted = seen
    real = np.arange(trained.shape[0])[:, None] < batch.char_padded.lengths[None, :]        # (C, N)
    dropped = trained[real] == 0
    assert 0.4 < dropped.mean() < 0.6
    np.testing.assert_allclose(trained[real][~dropped], 2 * predicted[real][~dropped])
