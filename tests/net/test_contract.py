"""The layer contract, checked on every layer: output shapes, input-shaped gradients, no dropout at
prediction, a padded batch equal to its sentences one at a time, and a Padded layout equal to raw lengths."""
import numpy as np
import pytest

from nertag.net import (CRF, GRU, LSTM, RNN, Bidirectional, Conv1D, Dense, Dropout, Embedding, Padded, ParamBuffer,
                        Sequential, SoftmaxCrossEntropy, SquaredError)

T, D, K, V = 6, 3, 4, 9
LENGTHS = np.array([6, 1, 4, 2, 6])          # uneven, length 1, unsorted, ties
B = len(LENGTHS)
MASK = np.arange(T)[:, None] < LENGTHS[None, :]


def floats(rng):
    return rng.normal(size=(T, B, D))


def ids(rng):
    return rng.integers(1, V, size=(T, B))


# name -> (factory, input maker, output width, prediction reference or None)
LAYERS = {
    "dense": (lambda: Dense(D, 5, "tanh"), floats, 5, None),
    "dropout": (lambda: Dropout(0.5), floats, D, lambda layer, X: X),
    "sequential": (lambda: Sequential(Dense(D, 5, "relu"), Dropout(0.5), Dense(5, 2)), floats, 2,
                   lambda net, X: net.children[2](net.children[0](X))),
    "embedding": (lambda: Embedding(V, 4), ids, 4, None),
    "embedding-numpy": (lambda: Embedding(V, 4, kernel="numpy"), ids, 4, None),
    "rnn": (lambda: RNN(D, 4), floats, 4, None),
    "gru": (lambda: GRU(D, 4), floats, 4, None),
    "gru-numpy": (lambda: GRU(D, 4, kernel="numpy"), floats, 4, None),
    "lstm-numpy": (lambda: LSTM(D, 4, kernel="numpy"), floats, 4, None),
    "bigru": (lambda: Bidirectional(lambda: GRU(D, 4)), floats, 8, None),
    "birnn": (lambda: Bidirectional(RNN(D, 3), RNN(D, 2)), floats, 5, None),
    "lstm": (lambda: LSTM(D, 4), floats, 4, None),
    "bilstm": (lambda: Bidirectional(lambda: LSTM(D, 4)), floats, 8, None),
    "conv": (lambda: Conv1D(D, 5, 3, "tanh"), floats, 5, None),
}
RECURRENT = {"rnn", "gru", "gru-numpy", "bigru", "birnn", "lstm", "lstm-numpy", "bilstm"}


def bound(make, seed=0):
    layer = make()
    buffer = ParamBuffer(layer, np.float64, seed=seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.6, size=buffer.data.size)
    return layer, buffer


@pytest.mark.parametrize("name", LAYERS)
def test_shapes_and_input_shaped_gradients(name):
    make, inputs, width, _ = LAYERS[name]
    layer, buffer = bound(make)
    rng = np.random.default_rng(1)
    X = inputs(rng)
    Y, backprop = layer.forward(X, LENGTHS, np.random.default_rng(2))
    assert Y.shape == (T, B, width) and Y.dtype == np.float64
    dX = backprop(rng.normal(size=Y.shape))
    if np.issubdtype(X.dtype, np.integer):
        assert dX is None                                    # token ids are not differentiable
    else:
        assert dX.shape == X.shape and dX.dtype == X.dtype
        if name in RECURRENT:
            assert not dX[~MASK].any()                       # padding gets exactly zero gradient
    if name in RECURRENT:
        assert not Y[~MASK].any()                            # and exactly zero output


@pytest.mark.parametrize("name", LAYERS)
def test_no_dropout_at_prediction(name):
    make, inputs, _, reference = LAYERS[name]
    layer, _ = bound(make)
    X = inputs(np.random.default_rng(3))
    predicted = layer(X, LENGTHS)
    np.testing.assert_array_equal(predicted, layer.forward(X, LENGTHS, None)[0])
    np.testing.assert_array_equal(predicted, layer(X, LENGTHS))      # deterministic
    if reference is not None:                                        # a layer with dropout inside
        np.testing.assert_allclose(predicted, reference(layer, X), rtol=0, atol=1e-12)
        trained = layer.forward(X, LENGTHS, np.random.default_rng(4))[0]
        assert not np.allclose(trained, predicted)                   # ... which does drop in training


@pytest.mark.parametrize("name", LAYERS)
def test_padded_batch_equals_its_sentences_one_at_a_time(name):
    make, inputs, _, _ = LAYERS[name]
    layer, _ = bound(make)
    X = inputs(np.random.default_rng(5))
    Y = layer(X, LENGTHS)
    for b, n in enumerate(LENGTHS):
        one = layer(np.ascontiguousarray(X[:n, b:b + 1]), np.array([n]))
        np.testing.assert_allclose(one[:, 0], Y[:n, b], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", LAYERS)
def test_a_padded_layout_gives_what_raw_lengths_give(name):
    make, inputs, _, _ = LAYERS[name]
    layer, buffer = bound(make)
    rng = np.random.default_rng(6)
    X = inputs(rng)
    dY = rng.normal(size=layer(X, LENGTHS).shape)
    results = []
    for lengths in (LENGTHS, Padded.check(LENGTHS, T, B)):
        buffer.zero_grad()
        Y, backprop = layer.forward(X, lengths, np.random.default_rng(7))
        dX = backprop(dY)
        results.append((Y.copy(), None if dX is None else dX.copy(), buffer.grad.copy()))
    for a, b in zip(*results):
        if a is not None:
            np.testing.assert_array_equal(a, b)


# -- output layers -------------------------------------------------------------------------------------

OUTPUTS = {
    "crf": (lambda: CRF(K), lambda rng: rng.integers(0, K, size=(T, B))),
    "crf-numpy": (lambda: CRF(K, kernel="numpy"), lambda rng: rng.integers(0, K, size=(T, B))),
    "softmax": (SoftmaxCrossEntropy, lambda rng: rng.integers(0, K, size=(T, B))),
    "squared": (SquaredError, lambda rng: rng.normal(size=(T, B, K))),
}


@pytest.mark.parametrize("name", OUTPUTS)
def test_output_layer_shapes_gradients_and_one_at_a_time(name):
    make, targets = OUTPUTS[name]
    layer, buffer = bound(make)
    rng = np.random.default_rng(8)
    X, target = rng.normal(size=(T, B, K)), targets(rng)
    loss, dX = layer.loss(X, target, LENGTHS)
    assert isinstance(loss, float) and dX.shape == X.shape and not dX[~MASK].any()
    X_garbage = X.copy()
    X_garbage[~MASK] = 1e3                                       # padding scores change nothing
    assert layer.loss(X_garbage, target, LENGTHS)[0] == pytest.approx(loss)
    paths = layer.predict(X, LENGTHS)
    assert paths.shape[:2] == (T, B)
    np.testing.assert_array_equal(paths, layer.predict(X, Padded.check(LENGTHS, T, B)))
    total = 0.0
    for b, n in enumerate(LENGTHS):
        Xb, tb = np.ascontiguousarray(X[:n, b:b + 1]), np.ascontiguousarray(target[:n, b:b + 1])
        total += layer.loss(Xb, tb, np.array([n]))[0]
        np.testing.assert_allclose(layer.loss(Xb, tb, np.array([n]))[1][:, 0], dX[:n, b], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(layer.predict(Xb, np.array([n]))[:, 0], paths[:n, b])
    assert total == pytest.approx(loss, rel=1e-12)
    buffer.zero_grad()
