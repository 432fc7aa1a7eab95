"""LSTM: central-difference gradients (parameters, inputs, initial and final states) with uneven lengths, an
independent per-sequence reference forwards and backwards, a padded batch against its sequences one at a
time, the character-encoder summary under Bidirectional, parameters and the forget-gate bias, dtypes,
prediction without gradients."""
import numpy as np
import pytest
from recurrent_checks import (
    assert_padded_batch_equals_sequences_one_at_a_time,
    assert_saturated_gates_stay_finite,
)

from nertag.net.bidirectional import Bidirectional
from nertag.net.gradcheck import check_layer, numerical_gradient, relative_error
from nertag.net.gru import GRU
from nertag.net.lstm import LSTM
from nertag.net.params import ParamBuffer

D, H = 3, 4
EPS = 3e-5          # as in test_rnn: a smaller step lets roundoff of the summed loss reach ~1e-6
EPS_STATES = 1e-5   # the loss of the state test is smaller, so truncation (~eps^2) decides: 1.2e-6 at 3e-5
CASES = [  # (T, lengths): uneven and unsorted with ties, length 1, B = 1, a padded tail beyond the longest
    (5, (5, 1, 3, 2, 5)),
    (1, (1,)),
    (4, (4,)),
    (6, (2, 4, 1)),
    (3, (1, 1)),
]
LAYERS = {
    "lstm": lambda: LSTM(D, H),
    "bilstm": lambda: Bidirectional(lambda: LSTM(D, H)),
    "bilstm-uneven": lambda: Bidirectional(LSTM(D, H), LSTM(D, H - 1)),
}


def make(name="lstm", dtype=np.float64, seed=0):
    """A layer with random parameters large enough that every gate and nonlinearity matters."""
    layer = LAYERS[name]()
    buffer = ParamBuffer(layer, dtype, seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.6, size=buffer.data.size)
    return layer, buffer


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_lstm(x, h, W, U, b):
    """One sequence ``x`` (L, D), one step at a time, gate by gate, from Gers et al. (2000)."""
    Wi, Wf, Wo, Wg = np.split(W, 4, axis=1)
    Ui, Uf, Uo, Ug = np.split(U, 4, axis=1)
    bi, bf, bo, bg = np.split(b, 4)
    c = np.zeros_like(h)
    outputs = []
    for x_t in x:
        i = sigmoid(x_t @ Wi + h @ Ui + bi)
        f = sigmoid(x_t @ Wf + h @ Uf + bf)
        o = sigmoid(x_t @ Wo + h @ Uo + bo)
        g = np.tanh(x_t @ Wg + h @ Ug + bg)
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    return np.array(outputs), h


# -- gradients -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("T, lengths", CASES)
def test_gradients_wrt_every_parameter_and_the_input(name, T, lengths):
    layer, buffer = make(name)
    X = np.random.default_rng(2).normal(size=(T, len(lengths), D))
    errors = check_layer(layer, X, np.array(lengths), buffer=buffer, eps=EPS)   # every entry, no sampling
    assert errors["params"] < 1e-6 and errors["inputs"] < 1e-6, errors


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("with_dy", [True, False], ids=["outputs-and-summary", "summary-only"])
def test_gradients_wrt_initial_and_final_states(name, with_dy):
    """``L = sum(R Y) + sum(Q h_last)``; summary-only is the character encoder's use (dY is None)."""
    layer, buffer = make(name)
    rng = np.random.default_rng(3)
    T, lengths = 6, np.array([6, 1, 4, 2, 6])
    X, h0 = rng.normal(size=(T, 5, D)), rng.normal(size=(5, layer.n_out))
    R = rng.normal(size=(T, 5, layer.n_out)) * (np.arange(T)[:, None] < lengths)[:, :, None] * with_dy
    Q = rng.normal(size=(5, layer.n_out))

    def loss():
        Y, h_last, _ = layer.run(X, lengths, h0)
        return float(np.sum(R * Y) + np.sum(Q * h_last))

    buffer.zero_grad()
    dX, dh0 = layer.run(X, lengths, h0)[2](R if with_dy else None, Q)
    dparams = buffer.grad.copy()
    assert relative_error(dparams, numerical_gradient(loss, buffer.data, EPS_STATES)) < 1e-6
    assert relative_error(dX, numerical_gradient(loss, X, EPS_STATES)) < 1e-6
    assert relative_error(dh0, numerical_gradient(loss, h0, EPS_STATES)) < 1e-6


# -- forward against the reference -----------------------------------------------------------------------

@pytest.mark.parametrize("reverse", [False, True])
def test_matches_a_per_sequence_reference(reverse):
    layer, _ = make()
    rng = np.random.default_rng(1)
    lengths = np.array([5, 1, 3, 2, 5])
    X, h0 = rng.normal(size=(6, 5, D)), rng.normal(size=(5, H))
    Y, h_last, _ = layer.run(X, lengths, h0, reverse=reverse)
    for j, L in enumerate(lengths):
        x = X[:L, j][::-1] if reverse else X[:L, j]
        Y_ref, h_ref = reference_lstm(x, h0[j], layer.p["W"], layer.p["U"], layer.p["b"])
        np.testing.assert_allclose(Y[:L, j], Y_ref[::-1] if reverse else Y_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_last[j], h_ref, rtol=0, atol=1e-12)
        assert np.all(Y[L:, j] == 0)


def test_bidirectional_summary_is_the_character_encoder_output():
    """``h_last = [h_fwd after the last real position ; h_bwd after position 0]``, per word."""
    layer, _ = make("bilstm")
    rng = np.random.default_rng(4)
    lengths = np.array([3, 7, 1, 5])                               # characters per word
    X = rng.normal(size=(7, 4, D))
    Y, h_last, _ = layer.run(X, lengths)
    for j, L in enumerate(lengths):
        _, h_f = reference_lstm(X[:L, j], np.zeros(H), *(layer.fwd.p[k] for k in "WUb"))
        _, h_b = reference_lstm(X[:L, j][::-1], np.zeros(H), *(layer.bwd.p[k] for k in "WUb"))
        np.testing.assert_allclose(h_last[j], np.concatenate([h_f, h_b]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(h_last[:, :H], Y[lengths - 1, np.arange(4), :H])
    np.testing.assert_array_equal(h_last[:, H:], Y[0, :, H:])


@pytest.mark.parametrize("name", LAYERS)
def test_padded_batch_equals_sequences_one_at_a_time(name):
    assert_padded_batch_equals_sequences_one_at_a_time(*make(name), D, atol=1e-12)


# -- parameters ----------------------------------------------------------------------------------------

def test_parameters_count_shapes_and_init():
    D, H = 7, 5
    layer = LSTM(D, H)
    assert layer.n_params == 4 * (D * H + H * H + H)
    assert Bidirectional(lambda: LSTM(D, H)).n_params == 2 * layer.n_params
    buffer = ParamBuffer(layer, np.float64, seed=0)
    assert [s.shape for s in layer.specs] == [(D, 4 * H), (H, 4 * H), (4 * H,)]
    for block in np.split(layer.p["U"], 4, axis=1):                 # orthogonal per gate block
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    assert [s.decay for s in layer.specs] == [True, True, False]
    assert buffer.decay_mask.sum() == D * 4 * H + H * 4 * H


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forget_gate_bias_is_one_after_initialisation(dtype):
    layer = Bidirectional(lambda: LSTM(3, 6))
    ParamBuffer(layer, dtype, seed=1)
    for direction in (layer.fwd, layer.bwd):
        b_i, b_f, b_o, b_g = np.split(direction.p["b"], 4)
        assert np.all(b_f == 1)
        assert not b_i.any() and not b_o.any() and not b_g.any()


# -- dtypes, prediction, edge cases ----------------------------------------------------------------------

@pytest.mark.parametrize("name", LAYERS)
def test_float32_keeps_float32_and_agrees_with_float64(name):
    layer64, buffer64 = make(name)
    layer32, buffer32 = make(name, np.float32)
    buffer32.data[:] = buffer64.data
    rng = np.random.default_rng(5)
    lengths = np.array([5, 2, 4])
    X, dY = rng.normal(size=(5, 3, D)), rng.normal(size=(5, 3, layer64.n_out))
    out = []
    for layer, buffer, dtype in ((layer64, buffer64, np.float64), (layer32, buffer32, np.float32)):
        buffer.zero_grad()
        Y, h_last, backprop = layer.run(X.astype(dtype), lengths)
        dX, dh0 = backprop(dY.astype(dtype), np.ones_like(h_last))
        out.append((Y, h_last, dX, dh0, buffer.grad.copy()))
    for a64, a32 in zip(*out):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-5)


def test_prediction_without_gradients_gives_the_same_outputs():
    layer, _ = make("bilstm", np.float32)
    X = np.random.default_rng(8).normal(size=(6, 4, D))
    lengths = np.array([4, 1, 6, 6])
    Y, h_last, _ = layer.run(X, lengths)
    Y_pred, h_pred, backprop = layer.run(X, lengths, grad=False)
    np.testing.assert_array_equal(Y, Y_pred)
    np.testing.assert_array_equal(h_last, h_pred)
    with pytest.raises(RuntimeError, match="prediction"):
        backprop(np.zeros_like(Y))


def test_no_state_is_carried_between_calls_and_caches_stay_alive():
    layer, buffer = make()
    rng = np.random.default_rng(6)
    X1, X2, dY = rng.normal(size=(4, 3, D)), rng.normal(size=(4, 3, D)), rng.normal(size=(4, 3, H))
    Y1, _, back1 = layer.run(X1)
    Y1_copy = Y1.copy()
    layer.run(X2, h0=rng.normal(size=(3, H)))                      # its scratch must not be the first run's
    np.testing.assert_array_equal(Y1, Y1_copy)
    buffer.zero_grad()
    dX1, _ = back1(dY)
    g1 = buffer.grad.copy()
    buffer.zero_grad()
    Y_again, _, back_again = layer.run(X1)
    np.testing.assert_array_equal(Y_again, Y1_copy)
    np.testing.assert_array_equal(back_again(dY)[0], dX1)
    np.testing.assert_array_equal(buffer.grad, g1)


def test_saturated_gates_stay_finite():
    assert_saturated_gates_stay_finite(make()[0], D)


def test_lstm_and_gru_read_the_same_batches():
    """Interchangeable as encoders: same input checks, same output and summary shapes."""
    rng = np.random.default_rng(7)
    X, lengths = rng.normal(size=(5, 3, D)), np.array([5, 2, 1])
    shapes = []
    for make_cell in (lambda: LSTM(D, H), lambda: GRU(D, H)):
        layer = Bidirectional(make_cell)
        ParamBuffer(layer, np.float32, seed=0)
        Y, h_last, _ = layer.run(X, lengths)
        shapes.append((Y.shape, h_last.shape, Y.dtype))
        with pytest.raises(ValueError, match=r"expects inputs of shape \(T, B, 3\), got \(5, 3, 2\)"):
            layer.fwd.run(np.zeros((5, 3, 2)))
    assert shapes[0] == shapes[1] == ((5, 3, 2 * H), (3, 2 * H), np.float32)
