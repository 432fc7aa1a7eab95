"""nertag.net.saving: any network and its optimiser state, refused into another architecture, resumed exactly."""
import json
import re

import numpy as np
import pytest

from nertag.errors import ModelError
from nertag.net import GRU, Bidirectional, Dense, Dropout, Embedding, ParamBuffer, Sequential, SoftmaxCrossEntropy
from nertag.net.fitting import fit
from nertag.net.optim import SGD, Adam, Momentum
from nertag.net.saving import describe, load, save
from nertag.net.schedules import OneCycle


def mlp_and_buffer(activation="tanh", hidden=8, dtype=np.float64, seed=0):
    net = Sequential(Dense(2, hidden, activation), Dropout(0.1), Dense(hidden, 3))
    return net, ParamBuffer(net, dtype, seed=seed)


def mlp(**options):
    return mlp_and_buffer(**options)[0]


def two_layers():
    net = Sequential(Dense(2, 8, "tanh"), Dense(8, 3))
    ParamBuffer(net, np.float64)
    return net


def tagger(cell=GRU, hidden=5):
    net = Sequential(Embedding(7, 4), Bidirectional(cell(4, hidden), cell(4, hidden)), Dense(2 * hidden, 3))
    buffer = ParamBuffer(net, np.float64, seed=1)
    return net, buffer


def test_parameters_round_trip_bit_for_bit(tmp_path):
    net, _ = tagger()
    save(tmp_path / "net.npz", net)
    other, _ = tagger()
    for layer in other.walk():
        for view in layer.p.values():
            view[...] = 0
    load(tmp_path / "net.npz", other)
    for a, b in zip(net.walk(), other.walk()):
        for name in a.p:
            np.testing.assert_array_equal(a.p[name], b.p[name])


def test_the_file_describes_the_architecture_as_json(tmp_path):
    save(tmp_path / "net.npz", mlp())
    with np.load(tmp_path / "net.npz", allow_pickle=False) as arrays:
        description = json.loads(str(arrays["architecture"]))
        assert "param/1.Dense.W" in arrays.files
    assert description["dtype"] == "float64"
    first = description["network"]["children"][0]
    assert first["type"] == "Dense"
    assert first["config"] == {"activation": "tanh", "n_in": 2, "n_out": 8}
    assert first["params"] == {"W": [2, 8], "b": [8]}
    assert description["network"]["children"][1]["config"] == {"rate": 0.1}


@pytest.mark.parametrize("other, message", [
    (lambda: mlp(activation="relu"), "layer 1 (Dense) activation: file has tanh, network has relu"),
    (lambda: mlp(dtype=np.float32), "dtype: file has float64, network has float32"),
    (lambda: mlp(hidden=9), "layer 1 (Dense) n_out: file has 8, network has 9"),
    (two_layers, "layer 0 (Sequential): file has 3 child layers, network has 2"),
])
def test_another_architecture_is_refused_naming_the_first_difference(tmp_path, other, message):
    save(tmp_path / "net.npz", mlp())
    target = other()
    before = [view.copy() for layer in target.walk() for view in layer.p.values()]
    with pytest.raises(ModelError, match=re.escape(f"net.npz: the saved network differs: {message}") + "$"):
        load(tmp_path / "net.npz", target)
    after = [view for layer in target.walk() for view in layer.p.values()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # nothing loaded


def test_a_nested_cell_of_another_type_is_named():
    from nertag.net import LSTM
    gru, _ = tagger(GRU)
    lstm, _ = tagger(LSTM)
    from nertag.net.saving import first_difference
    assert first_difference(describe(gru), describe(lstm)) == "layer 3: file has GRU, network has LSTM"


def test_an_optimiser_of_another_kind_or_setting_is_refused(tmp_path):
    net, buffer = mlp_and_buffer()
    save(tmp_path / "net.npz", net, Adam(buffer, 0.01))
    with pytest.raises(ModelError, match="optimiser: file has Adam, this run has SGD"):
        load(tmp_path / "net.npz", net, SGD(buffer, 0.01))
    with pytest.raises(ModelError, match="optimiser beta2: file has 0.999, this run has 0.99"):
        load(tmp_path / "net.npz", net, Adam(buffer, 0.01, beta2=0.99))
    save(tmp_path / "plain.npz", net)
    with pytest.raises(ModelError, match="no optimiser state was saved"):
        load(tmp_path / "plain.npz", net, Adam(buffer, 0.01))
    with pytest.raises(ValueError, match="the optimiser updates the parameters of another network"):
        save(tmp_path / "net.npz", net, Adam(mlp_and_buffer()[1], 0.01))


def test_damaged_or_foreign_files_are_refused_in_one_line(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="junk.npz: damaged saved network"):
        load(tmp_path / "junk.npz", mlp())
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ModelError, match="other.npz: not a saved network: no architecture description"):
        load(tmp_path / "other.npz", mlp())


@pytest.mark.parametrize("make_optimizer", [
    lambda b: Adam(b, 0.02, clip_norm=1.0, l2=1e-3),
    lambda b: Momentum(b, OneCycle(0.1, total=36, warmup=6, momentum=(0.95, 0.85)), weight_decay=1e-3),
])
def test_training_continued_from_a_saved_network_equals_one_run(tmp_path, make_optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    loss = SoftmaxCrossEntropy()

    def network():
        net, buffer = mlp_and_buffer(seed=3)
        return net, make_optimizer(buffer)

    whole, whole_opt = network()
    fit(whole, loss, whole_opt.buffer, X, y, optimizer=whole_opt, epochs=6, batch_size=10, seed=4)

    first, first_opt = network()
    fit(first, loss, first_opt.buffer, X, y, optimizer=first_opt, epochs=3, batch_size=10, seed=4)
    save(tmp_path / "half.npz", first, first_opt)
    resumed, resumed_opt = network()  # a new process would build the same network and optimiser
    load(tmp_path / "half.npz", resumed, resumed_opt)
    assert resumed_opt.t == first_opt.t == 18
    fit(resumed, loss, resumed_opt.buffer, X, y, optimizer=resumed_opt, epochs=6, initial_epoch=3, batch_size=10,
        seed=4)
    np.testing.assert_array_equal(resumed_opt.buffer.data, whole_opt.buffer.data)
    for a, b in zip(resumed_opt.state.values(), whole_opt.state.values()):
        np.testing.assert_array_equal(a, b)


def test_the_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "net.npz"
    save(path, mlp())
    before = path.read_bytes()
    import nertag.files as files

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files.np.lib.format, "write_array", fail)
    with pytest.raises(OSError, match="disk full"):
        save(path, mlp(activation="relu"))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]
