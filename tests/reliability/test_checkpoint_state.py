"""Every value of a checkpoint's training state is type- and range-checked (issue 22): its counters against
each other and against the batches of an epoch, so an edited or damaged checkpoint never resumes."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from cli_results import assert_error, nertag
from probes import TINY, TRAIN

from nertag import files
from nertag.checkpoint import Checkpoint, TrainState
from nertag.data.conll import load_conll
from nertag.errors import ModelError

PATH = Path("run/checkpoint.npz")


def state_values(**changes) -> dict:
    """The JSON values of a new run's state on 3 sentences, with ``changes``."""
    values = json.loads(json.dumps(asdict(TrainState.new(load_conll(TRAIN)[:3], seed=1))))
    return {**values, **changes}


def unpack(values: dict, batch_size: int | None = None) -> Checkpoint:
    return Checkpoint.unpack({"state": np.array(json.dumps(values))}, PATH, batch_size)


@pytest.mark.parametrize("field, value, fragment", [
    ("epoch", "3", "epoch must be a whole number"), ("epoch", -1, "epoch must be a whole number"),
    ("epoch", 10 ** 12, "epoch must be a whole number"), ("batch", -1, "batch must be a whole number"),
    ("batch", 10 ** 12, "batch must be a whole number"), ("best_f1", 200.0, "best_f1 must be from -1 to 100"),
    ("best_f1", float("nan"), "found NaN, which is not a JSON number"),
    ("history", "rows", "history must list"), ("fingerprint", [1], "fingerprint must be two counts"),
    ("data_rng", 7, "data_rng must be a generator state"), ("epoch_loss", -2.0, "epoch_loss must be"),
    ("epoch_seconds", float("inf"), "found Infinity, which is not a JSON number"),
])
def test_checkpoint_fields_are_type_and_range_checked(field, value, fragment):
    with pytest.raises(ModelError, match=re.escape(f"{PATH}: damaged checkpoint: ") + ".*" + re.escape(fragment)):
        unpack(state_values(**{field: value}))
    deep = np.array('{"epoch": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelError, match="nested too deeply"):
        Checkpoint.unpack({"state": deep}, PATH)


@pytest.mark.parametrize("changes, fragment", [
    ({"epoch": 7}, "epoch 7 does not match the history, which must list epochs 1 to 7, found []"),
    ({"epoch": 10 ** 9}, "epoch 1000000000 does not match the history"),
    ({"epoch": 1, "history": [{"epoch": 2}]}, "epoch 1 does not match the history, which must list epochs 1 to 1, "
                                              "found [2]"),
    ({"epoch": 1, "history": [{"epoch": 1}], "best_epoch": 2}, "best_epoch 2 is beyond the 1 epochs finished"),
    ({"bad_epochs": 3}, "bad_epochs 3 is beyond the 0 epochs finished"),
])
def test_the_epoch_counters_must_agree_with_the_history(changes, fragment):
    with pytest.raises(ModelError, match=re.escape(f"{PATH}: damaged checkpoint: {fragment}")):
        unpack(state_values(**changes))


def test_the_batch_counter_must_lie_within_an_epoch():
    values = state_values(fingerprint=[25, 400])  # 25 sentences: 3 batches of 10
    assert unpack({**values, "batch": 3}, batch_size=10).state.batch == 3  # stopped after the last batch
    assert unpack({**values, "batch": 25}, batch_size=1).state.batch == 25
    for batch, batch_size in ((4, 10), (26, 1), (10 ** 9, 32)):
        with pytest.raises(ModelError, match=re.escape(
                f"{PATH}: damaged checkpoint: batch {batch} is beyond the {-(-25 // batch_size)} batches of an "
                f"epoch (25 sentences in batches of {batch_size})")):
            unpack({**values, "batch": batch}, batch_size=batch_size)
    assert unpack({**values, "batch": 10 ** 9}).state.batch == 10 ** 9  # without the batch size: not checked


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("state") / "run"
    result = nertag("train", "--conll", TRAIN, "--model", directory, *TINY, "--epochs", "1", "--batch-size", "25")
    assert result.exit_code == 0, result.stderr
    return directory


def with_state(run: Path, tmp_path: Path, **changes) -> Path:
    """A copy of ``run`` whose checkpoint's training state has ``changes``."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    with np.load(copy / "checkpoint.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["state"] = np.array(json.dumps({**json.loads(str(arrays["state"])), **changes}))
    files.write_npz(copy / "checkpoint.npz", arrays)
    return copy


@pytest.mark.parametrize("changes, fragment", [
    ({"batch": 5}, "batch 5 is beyond the 4 batches of an epoch (100 sentences in batches of 25)"),
    ({"batch": 10 ** 6}, "batch 1000000 is beyond the 4 batches"),
    ({"batch": -3}, "batch must be a whole number from 0 to 1,000,000,000, found -3"),
    ({"epoch": -1}, "epoch must be a whole number from 0 to 1,000,000,000, found -1"),
    ({"epoch": 10 ** 15}, "epoch must be a whole number from 0 to 1,000,000,000"),
    ({"epoch": 40}, "epoch 40 does not match the history, which must list epochs 1 to 40, found [1]"),
    ({"data_rng": {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0}},
     "random generator state (OverflowError: "),
    ({"noise_rng": {"bit_generator": "MT19937"}}, "random generator state ("),
])
def test_resume_refuses_a_checkpoint_with_counters_out_of_range(finished_run, tmp_path, changes, fragment):
    copy = with_state(finished_run, tmp_path, **changes)
    before = (copy / "checkpoint.npz").read_bytes()
    result = nertag("train", "--conll", TRAIN, "--resume", copy, "--epochs", "2", "--no-progress")
    assert_error(result, f"{copy / 'checkpoint.npz'}: damaged checkpoint: {fragment}")
    assert (copy / "checkpoint.npz").read_bytes() == before


def test_resume_takes_a_checkpoint_saved_after_the_last_batch(finished_run, tmp_path):
    copy = with_state(finished_run, tmp_path, batch=4)  # as a stop after the epoch's last batch leaves it
    result = nertag("train", "--conll", TRAIN, "--resume", copy, "--epochs", "2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["epoch"] for line in (copy / "metrics.jsonl").read_text().splitlines()] == [1, 2]
