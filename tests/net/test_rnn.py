"""Plain RNN, and the contract every recurrent layer keeps (RNN, GRU with both kernels, BiGRU, BiRNN)."""
import numpy as np
import pytest
from recurrent_checks import assert_padded_batch_equals_sequences_one_at_a_time

from nertag.net.bidirectional import Bidirectional
from nertag.net.gradcheck import check_layer, numerical_gradient, relative_error
from nertag.net.gru import GRU
from nertag.net.params import ParamBuffer
from nertag.net.rnn import RNN

LAYERS = {
    "rnn": lambda D, H: RNN(D, H),
    "gru": lambda D, H: GRU(D, H),
    "gru-numpy": lambda D, H: GRU(D, H, kernel="numpy"),
    "bigru": lambda D, H: Bidirectional(lambda: GRU(D, H)),
    "birnn": lambda D, H: Bidirectional(RNN(D, H), RNN(D, H + 1)),
}
D, H = 3, 4
EPS = 3e-5  # central-difference step: at 1e-5 roundoff of the summed loss already reaches ~1e-6 relative error


def make(name, dtype=np.float64, seed=0):
    """A layer with random parameters large enough that every gate and nonlinearity matters."""
    layer = LAYERS[name](D, H)
    buffer = ParamBuffer(layer, dtype, seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.6, size=buffer.data.size)
    return layer, buffer


def batch(T=5, lengths=(5, 1, 3, 2), seed=1, H_out=H):
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths)
    X = rng.normal(size=(T, len(lengths), D))
    return X, lengths, rng.normal(size=(len(lengths), H_out)), rng


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("lengths", [(5, 1, 3, 2), None])
def test_gradients_wrt_params_and_inputs(name, lengths):
    layer, buffer = make(name)
    X = np.random.default_rng(2).normal(size=(5, 4, D))
    errors = check_layer(layer, X, None if lengths is None else np.array(lengths), buffer=buffer, eps=EPS)
    assert errors["params"] < 1e-6 and errors["inputs"] < 1e-6, errors


@pytest.mark.parametrize("name", LAYERS)
def test_gradients_wrt_initial_state_and_final_state(name):
    layer, buffer = make(name)
    X, lengths, h0, rng = batch(H_out=layer.n_out)
    Y, h_last, _ = layer.run(X, lengths, h0)
    R = rng.normal(size=Y.shape) * (np.arange(5)[:, None] < lengths)[:, :, None]
    Q = rng.normal(size=h_last.shape)

    def loss():
        Y, h_last, _ = layer.run(X, lengths, h0)
        return float(np.sum(R * Y) + np.sum(Q * h_last))

    buffer.zero_grad()
    dX, dh0 = layer.run(X, lengths, h0)[2](R, Q)
    dparams = buffer.grad.copy()
    assert relative_error(dh0, numerical_gradient(loss, h0, EPS)) < 1e-6
    assert relative_error(dX, numerical_gradient(loss, X, EPS)) < 1e-6
    assert relative_error(dparams, numerical_gradient(loss, buffer.data, EPS)) < 1e-6


@pytest.mark.parametrize("name", LAYERS)
def test_padded_batch_equals_sequences_one_at_a_time(name):
    assert_padded_batch_equals_sequences_one_at_a_time(*make(name), D, atol=1e-10)


@pytest.mark.parametrize("name", LAYERS)
def test_no_state_is_carried_between_calls(name):
    layer, _ = make(name)
    X, lengths, h0, _ = batch(H_out=layer.n_out)
    first = layer.run(X, lengths)[:2]
    layer.run(X, lengths, h0)
    second = layer.run(X, lengths)[:2]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", LAYERS)
def test_forward_follows_the_layer_contract(name):
    layer, buffer = make(name)
    X, lengths, _, rng = batch(H_out=layer.n_out)
    Y, backprop = layer.forward(X, lengths)
    assert Y.shape == (5, 4, layer.n_out)
    np.testing.assert_array_equal(Y, layer(X, lengths))
    dY = rng.normal(size=Y.shape)
    buffer.zero_grad()
    dX = backprop(dY)
    via_forward = buffer.grad.copy()
    buffer.zero_grad()
    dX_run, _ = layer.run(X, lengths)[2](dY)
    np.testing.assert_array_equal(dX, dX_run)
    np.testing.assert_array_equal(via_forward, buffer.grad)


@pytest.mark.parametrize("name", LAYERS)
def test_only_final_states_need_no_output_gradient(name):
    layer, buffer = make(name)
    X, lengths, dh_last, _ = batch(H_out=layer.n_out)
    backprop = layer.run(X, lengths)[2]
    dX, dh0 = backprop(None, dh_last)
    dX_zeros, dh0_zeros = backprop(np.zeros((5, 4, layer.n_out)), dh_last)
    np.testing.assert_array_equal(dX, dX_zeros)
    np.testing.assert_array_equal(dh0, dh0_zeros)


@pytest.mark.parametrize("name", LAYERS)
def test_float32_agrees_with_float64(name):
    layer64, buffer64 = make(name)
    layer32, buffer32 = make(name, np.float32)
    buffer32.data[:] = buffer64.data
    X, lengths, _, _ = batch(H_out=layer64.n_out)
    Y32 = layer32(X.astype(np.float32), lengths)
    assert Y32.dtype == np.float32
    np.testing.assert_allclose(Y32, layer64(X, lengths), atol=1e-5)


def test_rnn_matches_a_per_step_reference():
    layer, _ = make("rnn")
    X, lengths, h0, _ = batch()
    W, U, b = layer.p["W"], layer.p["U"], layer.p["b"]
    Y, h_last, _ = layer.run(X, lengths, h0)
    for j, L in enumerate(lengths):
        h = h0[j]
        for t in range(L):
            h = np.tanh(X[t, j] @ W + b + h @ U)
            np.testing.assert_allclose(Y[t, j], h, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_last[j], h, rtol=0, atol=1e-12)


def test_rnn_parameter_count():
    assert RNN(7, 5).n_params == 7 * 5 + 5 * 5 + 5


def test_bad_inputs_are_reported():
    layer, _ = make("rnn")
    with pytest.raises(ValueError, match=r"expects inputs of shape \(T, B, 3\), got \(5, 4, 2\)"):
        layer.run(np.zeros((5, 4, 2)))
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 4\), got \(4, 3\)"):
        layer.run(np.zeros((5, 4, 3)), h0=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="lengths must lie in 1..5"):
        layer.run(np.zeros((5, 2, 3)), np.array([6, 1]))
