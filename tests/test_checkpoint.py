"""The training state in a checkpoint, and what a resumed run may change (issue 15)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nertag.checkpoint import Checkpoint, TrainState, pack, restoring, resumed_config
from nertag.config import Config
from nertag.data.conll import Sentence
from nertag.errors import ModelError, NertagError
from nertag.net.averaging import ParameterAverage
from nertag.net.dense import Dense
from nertag.net.optim import Adam
from nertag.net.params import ParamBuffer

PATH = Path("run/checkpoint.npz")
KEYS = ["epoch", "batch", "best_f1", "best_epoch", "bad_epochs", "history", "fingerprint", "data_rng", "noise_rng",
        "epoch_loss", "epoch_tokens", "epoch_seconds"]  # the order of every checkpoint nertag has written


def parts():
    buffer = ParamBuffer(Dense(3, 2), np.dtype("float32"), seed=0)
    return Adam(buffer, 0.01), ParameterAverage(buffer, 0.9)


def test_state_round_trip_keeps_the_key_order():
    state = TrainState.new([Sentence(["a", "b"], ["O", "O"], [["a", "O"], ["b", "O"]])], seed=3)
    assert state.fingerprint == [1, 2] and (state.epoch, state.batch, state.best_f1) == (0, 0, -1.0)
    state.history.append({"epoch": 1, "dev": {"f1": 50.0}})
    state.epoch = state.best_epoch = 1
    assert state.best_dev() == {"f1": 50.0}
    opt, average = parts()
    arrays = pack(state, opt, average)
    kinds = [name.split("/")[0] for name in arrays]  # the optimiser's arrays, the average's, the state
    assert kinds == sorted(kinds, key=["opt", "avg", "state"].index) and kinds[-1] == "state" and "avg" in kinds
    assert list(json.loads(str(arrays["state"]))) == KEYS
    checkpoint = Checkpoint.unpack(arrays, PATH)
    assert checkpoint.state == state and set(checkpoint.opt) == set(opt.state_dict())
    checkpoint.restore(PATH, *parts())


def test_damaged_state():
    for text, message in [
        ("{not json", r"run/checkpoint.npz: damaged checkpoint, not valid JSON \(Expecting "),
        ('{"epoch": 1}', r"run/checkpoint.npz: damaged checkpoint: the training state lacks batch, best_f1, "),
        ("[1]", r"the training state lacks epoch, batch, "),
    ]:
        with pytest.raises(ModelError, match=message):
            Checkpoint.unpack({"state": np.array(text)}, PATH)
    with pytest.raises(ModelError, match=r"damaged checkpoint \(KeyError: 'state'\)"):
        Checkpoint.unpack({}, PATH)


def test_restoring_wraps_one_error_in_one_line():
    opt, average = parts()
    arrays = pack(TrainState.new([], seed=1), opt, average)
    for damage, message in [
        (lambda a: a.pop("opt/t"), r"damaged checkpoint: optimiser state does not fit the configuration \(ValueError: "
                                   r"expected the slots"),
        (lambda a: a.pop("avg/n"), r"damaged checkpoint: parameter average \(expected the arrays"),
    ]:
        copy = dict(arrays)
        damage(copy)
        with pytest.raises(ModelError, match=message):
            Checkpoint.unpack(copy, PATH).restore(PATH, *parts())
    with pytest.raises(ModelError, match=r"^run/checkpoint.npz: damaged checkpoint: random generator state "
                                         r"\(TypeError: boom\)$"):
        with restoring(PATH, "random generator state"):
            raise TypeError("boom")


def test_resumed_config():
    saved = Config(hidden=8, epochs=3)
    assert resumed_config(saved, None, PATH) is saved
    assert resumed_config(saved, {}, PATH) == saved
    assert resumed_config(saved, {"epochs": 5, "patience": 2, "hidden": 8}, PATH) == saved.replace(epochs=5, patience=2)
    assert resumed_config(saved, saved.replace(epochs=6), PATH).epochs == 6
    with pytest.raises(NertagError, match=r"^run/checkpoint.npz: cannot resume with a different configuration: "
                                          r"hidden 5 \(the run has 8\), lr 0.5 \(the run has 0.001\); a resumed run "
                                          r"keeps its configuration, only epochs and patience may change$"):
        resumed_config(saved, {"lr": 0.5, "hidden": 5, "epochs": 9}, PATH)
    with pytest.raises(NertagError, match=r"hidden must be at least 1"):
        resumed_config(saved, {"hidden": 0}, PATH)
