"""The framework core: one buffer, views, closed-form parameter counts, gradient checks of the feed-forward
layers and losses (the contract every layer keeps is in test_contract.py)."""
import numpy as np
import pytest

from nertag.net import (Dense, Dropout, Embedding, ParamBuffer, Sequential, SoftmaxCrossEntropy,
                        SquaredError, sequence_mask)
from nertag.net._embedding import scatter_add_rows
from nertag.net.embedding_numpy import scatter_add_rows as scatter_add_rows_numpy
from nertag.net.gradcheck import check_layer, check_loss, relative_error
from nertag.net.optim import Adam

LENGTHS = np.array([5, 1, 3, 2])  # uneven, including a length-1 sequence


def test_one_buffer_for_params_one_for_grads():
    net = Sequential(Embedding(11, 4), Dense(4, 6, "tanh"), Sequential(Dropout(0.5), Dense(6, 3)))
    buffer = ParamBuffer(net, np.float32)
    assert len(buffer) == 11 * 4 + (4 * 6 + 6) + (6 * 3 + 3) == net.n_params
    assert buffer.data.dtype == buffer.grad.dtype == np.float32
    n_views = 0
    for layer in net.walk():
        for name in layer.p:
            assert np.shares_memory(layer.p[name], buffer.data)
            assert np.shares_memory(layer.g[name], buffer.grad)
            assert not np.shares_memory(layer.p[name], buffer.grad)
            n_views += 1
    assert n_views == 5
    # Dense parameters first, the sparse embedding table last.
    assert buffer.n_dense == 4 * 6 + 6 + 6 * 3 + 3
    assert np.shares_memory(net.children[0].p["W"], buffer.data[buffer.n_dense:])


def test_buffer_dtype_and_double_binding_are_checked():
    with pytest.raises(ValueError, match="parameters must be float32 or float64, got int64"):
        ParamBuffer(Dense(2, 2), np.int64)
    layer = Dense(2, 2)
    ParamBuffer(layer)
    with pytest.raises(ValueError, match="Dense is bound twice"):
        ParamBuffer(layer)


def test_same_seed_same_initial_parameters():
    a, b = ParamBuffer(Dense(5, 4), seed=7), ParamBuffer(Dense(5, 4), seed=7)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, ParamBuffer(Dense(5, 4), seed=8).data)


@pytest.mark.parametrize("activation", ["identity", "tanh", "sigmoid", "relu"])
def test_dense_gradients(activation):
    X = np.random.default_rng(1).normal(size=(5, 4, 3))
    errors = check_layer(Dense(3, 4, activation), X, LENGTHS)
    assert errors["params"] < 1e-6 and errors["inputs"] < 1e-6, errors


def test_dense_softmax_gives_probabilities_and_its_jacobian_checks_out():
    """Every input, weight and bias entry by central differences (float64), against a random R."""
    X = np.random.default_rng(3).normal(size=(5, 4, 3))
    layer = Dense(3, 4, "softmax")
    errors = check_layer(layer, X, LENGTHS, seed=2)
    assert errors["params"] < 1e-6 and errors["inputs"] < 1e-6, errors
    Y = layer(X * 100)  # large scores: no overflow, rows still sum to 1
    np.testing.assert_allclose(Y.sum(axis=-1), 1.0)
    assert np.all(Y >= 0)
    Z = X @ layer.p["W"] + layer.p["b"]
    np.testing.assert_allclose(layer(X), np.exp(Z) / np.exp(Z).sum(-1, keepdims=True))


def test_dense_softmax_backward_is_the_full_jacobian_product():
    from nertag.net.dense import softmax, softmax_backward
    rng = np.random.default_rng(4)
    Z, dY = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    Y = softmax(Z.copy())
    for y, dy, dz in zip(Y, dY, softmax_backward(Y, dY)):
        J = np.diag(y) - np.outer(y, y)  # dY_i/dZ_j
        np.testing.assert_allclose(dz, J.T @ dy)


def test_unknown_activation_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="activation must be one of .*'softmax'.*got 'gelu'"):
        Dense(3, 2, "gelu")


def test_dense_on_plain_matrices():
    errors = check_layer(Dense(3, 2, "tanh"), np.random.default_rng(2).normal(size=(7, 3)))
    assert max(errors.values()) < 1e-6


def test_embedding_gradient_touches_only_real_positions():
    emb = Embedding(9, 3)
    buffer = ParamBuffer(emb, np.float64)
    ids = np.array([[1, 2, 3, 4], [5, 0, 6, 7], [8, 0, 0, 0]])  # (T=3, B=4)
    lengths = np.array([3, 1, 2, 2])
    assert check_layer(emb, ids, lengths, buffer=buffer)["params"] < 1e-6
    Y, backprop = emb.forward(ids, lengths)
    assert backprop(np.ones_like(Y)) is None
    rows = buffer.touched_rows(buffer.sparse[0])
    np.testing.assert_array_equal(rows, [1, 2, 3, 4, 5, 6, 7, 8])
    assert not emb.g["W"][0].any()  # the padding id was never touched


def test_embedding_rejects_bad_ids():
    emb = Embedding(4, 2)
    ParamBuffer(emb)
    with pytest.raises(ValueError, match="ids must lie in 0..3, got 0..4"):
        emb.forward(np.array([0, 4]))
    with pytest.raises(ValueError, match="integer ids"):
        emb.forward(np.array([0.5]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_kernel_matches_numpy_twin(dtype):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=40)  # many repeats
    rows = rng.normal(size=(40, 3)).astype(dtype)
    fast, slow = np.zeros((5, 3), dtype), np.zeros((5, 3), dtype)
    scatter_add_rows(fast, ids, rows)
    scatter_add_rows_numpy(slow, ids, rows)
    np.testing.assert_allclose(fast, slow, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_dropout_is_inverted_and_off_at_prediction():
    drop = Dropout(0.4)
    X = np.ones((200, 50))
    np.testing.assert_array_equal(drop(X), X)
    Y, backprop = drop.forward(X, rng=np.random.default_rng(0))
    kept = Y != 0
    assert abs(kept.mean() - 0.6) < 0.02
    np.testing.assert_allclose(Y[kept], 1 / 0.6)
    np.testing.assert_array_equal(backprop(np.ones_like(X)), Y)
    assert check_layer(Dropout(0.3), np.random.default_rng(1).normal(size=(5, 4, 3)), LENGTHS, noise_seed=3)[
        "inputs"] < 1e-6
    with pytest.raises(ValueError, match="dropout rate must be in \\[0, 1\\), got 1.0"):
        Dropout(1.0)


def test_softmax_cross_entropy_gradients_and_padding():
    rng = np.random.default_rng(4)
    X, target = rng.normal(size=(5, 4, 6)), rng.integers(0, 6, size=(5, 4))
    assert check_loss(SoftmaxCrossEntropy(), X, target, LENGTHS)["inputs"] < 1e-6
    loss, dX = SoftmaxCrossEntropy().loss(X, target, LENGTHS)
    assert not dX[~sequence_mask(LENGTHS, 5)].any()
    X2 = X.copy()
    X2[~sequence_mask(LENGTHS, 5)] = 1e3  # garbage at padding changes nothing
    assert SoftmaxCrossEntropy().loss(X2, target, LENGTHS)[0] == pytest.approx(loss)
    # Against the definition, one real position at a time.
    expected = sum(-np.log(np.exp(X[t, b, target[t, b]]) / np.exp(X[t, b]).sum())
                   for b in range(4) for t in range(LENGTHS[b]))
    assert loss == pytest.approx(expected)


def test_squared_error_gradients_and_padding():
    rng = np.random.default_rng(5)
    X, target = rng.normal(size=(5, 4, 2)), rng.normal(size=(5, 4, 2))
    assert check_loss(SquaredError(), X, target, LENGTHS)["inputs"] < 1e-6
    loss, _ = SquaredError().loss(X, target, LENGTHS)
    mask = sequence_mask(LENGTHS, 5)
    assert loss == pytest.approx(0.5 * np.sum((X - target)[mask] ** 2))


def test_composite_network_gradients():
    net = Sequential(Embedding(10, 4), Dense(4, 5, "tanh"), Dropout(0.2), Dense(5, 3, "relu"), Dense(3, 4))
    ids = np.random.default_rng(6).integers(0, 10, size=(5, 4))
    assert check_layer(net, ids, LENGTHS, noise_seed=0)["params"] < 1e-6


def test_composite_with_loss_gradients():
    rng = np.random.default_rng(7)
    net = Sequential(Dense(3, 5, "sigmoid"), Dense(5, 4))
    buffer = ParamBuffer(net, np.float64)
    X, target = rng.normal(size=(5, 4, 3)), rng.integers(0, 4, size=(5, 4))
    out = SoftmaxCrossEntropy()

    def loss_and_backward():
        Y, backprop = net.forward(X, LENGTHS)
        loss, dY = out.loss(Y, target, LENGTHS)
        backprop(dY)
        return loss

    from nertag.net.gradcheck import check_param_grads
    assert check_param_grads(loss_and_backward, buffer) < 1e-6


def test_relative_error_detects_a_wrong_gradient():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) > 0.04


def test_mlp_learns_a_synthetic_classification_task():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = ((X[:, 0] ** 2 + X[:, 1] ** 2) > 1.0).astype(np.int64)  # not linearly separable
    net = Sequential(Dense(2, 16, "tanh"), Dense(16, 2))
    buffer = ParamBuffer(net, np.float32, seed=0)
    opt = Adam(buffer, 0.05)
    out = SoftmaxCrossEntropy()
    losses = []
    for epoch in range(60):
        buffer.zero_grad()
        Y, backprop = net.forward(X.astype(np.float32), rng=rng)
        loss, dY = out.loss(Y, y)
        backprop(dY / len(y))
        opt.step()
        losses.append(loss / len(y))
    assert losses[-1] < 0.5 * losses[0]
    accuracy = np.mean(out.predict(net(X.astype(np.float32))) == y)
    assert accuracy > 0.9
