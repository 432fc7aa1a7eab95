"""Conv1D and MaxOverTime: a worked example, a brute-force per-sequence reference, gradient checks with uneven
lengths (a length-1 sequence and one shorter than the window), padding that never wins the max, a padded
batch equal to its sequences one at a time, float32, parameter counts and error messages."""
import numpy as np
import pytest

from nertag.net import Conv1D, MaxOverTime, ParamBuffer, Sequential
from nertag.net.gradcheck import check_layer, check_param_grads, numerical_gradient, relative_error

T, D, F = 7, 3, 4
LENGTHS = np.array([7, 1, 2, 5, 3])          # a length-1 sequence, one shorter than k = 3, unsorted
B = len(LENGTHS)
MASK = np.arange(T)[:, None] < LENGTHS[None, :]
WINDOWS = [1, 2, 3, 4, 5]                    # even windows pad one more zero on the right


def bound(layer, dtype=np.float64, seed=0):
    buffer = ParamBuffer(layer, dtype, seed=seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.5, size=buffer.data.size)
    return layer, buffer


def inputs(seed=1):
    return np.random.default_rng(seed).normal(size=(T, B, D))


def reference_conv(x, W, b, activation):
    """One sequence ``x (L, D)``, written loop by loop: zeros outside it, ``(L, F)`` out."""
    k = W.shape[0]
    p = (k - 1) // 2
    L = x.shape[0]
    Y = np.zeros((L, W.shape[2]))
    for t in range(L):
        z = b.copy()
        for j in range(k):
            s = t + j - p
            if 0 <= s < L:
                z += x[s] @ W[j]
        Y[t] = np.tanh(z) if activation == "tanh" else z
    return Y


def test_worked_example():
    conv, _ = bound(Conv1D(1, 1, 3, "identity"))
    conv.p["W"][:, 0, 0] = [1.0, 2.0, 3.0]
    conv.p["b"][:] = 0.5
    X = np.array([1.0, 10.0, 99.0]).reshape(3, 1, 1)          # a word of 2 characters, then padding
    Y = conv(X, np.array([2]))
    # Y[0] = 0*1 + 1*2 + 10*3 + 0.5, Y[1] = 1*1 + 10*2 + 0*3 + 0.5, Y[2] = padding
    np.testing.assert_array_equal(Y[:, 0, 0], [32.5, 21.5, 0.0])
    M = MaxOverTime()(Y, np.array([2]))
    np.testing.assert_array_equal(M, [[32.5]])


@pytest.mark.parametrize("activation", ["tanh", "identity"])
@pytest.mark.parametrize("window", WINDOWS)
def test_matches_a_brute_force_reference_per_sequence(window, activation):
    conv, _ = bound(Conv1D(D, F, window, activation))
    X = inputs()
    Y = conv(X, LENGTHS)
    M = MaxOverTime()(Y, LENGTHS)
    assert Y.shape == (T, B, F) and M.shape == (B, F)
    assert not Y[~MASK].any()                                   # exactly zero at padding
    for b, n in enumerate(LENGTHS):
        expected = reference_conv(X[:n, b], conv.p["W"], conv.p["b"], activation)
        np.testing.assert_allclose(Y[:n, b], expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(M[b], expected.max(axis=0), rtol=0, atol=1e-12)


def test_a_length_1_word_sees_only_the_centre_of_the_window():
    conv, _ = bound(Conv1D(D, F, 3, "tanh"))
    X = inputs()
    M = Sequential(conv, MaxOverTime())(X, LENGTHS)
    np.testing.assert_allclose(M[1], np.tanh(conv.p["b"] + X[0, 1] @ conv.p["W"][1]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "identity"])
@pytest.mark.parametrize("window", WINDOWS)
def test_conv_gradients(window, activation):
    conv, buffer = bound(Conv1D(D, F, window, activation))
    errors = check_layer(conv, inputs(), LENGTHS, buffer=buffer)
    assert errors["params"] < 1e-6 and errors["inputs"] < 1e-6, errors
    _, backprop = conv.forward(inputs(), LENGTHS)
    dX = backprop(np.random.default_rng(2).normal(size=(T, B, F)))
    assert dX.shape == (T, B, D) and not dX[~MASK].any()         # padding gets exactly zero gradient


@pytest.mark.parametrize("window", WINDOWS)
def test_conv_and_max_over_time_gradients(window):
    """L = sum(R * M) through Conv1D and MaxOverTime, w.r.t. every parameter and every input."""
    net, buffer = bound(Sequential(Conv1D(D, F, window, "tanh"), MaxOverTime()))
    X = inputs()
    R = np.random.default_rng(2).normal(size=(B, F))

    def loss_and_backward():
        M, backprop = net.forward(X, LENGTHS)
        backprop(R.copy())
        return float(np.sum(R * M))

    assert check_param_grads(loss_and_backward, buffer) < 1e-6
    _, backprop = net.forward(X, LENGTHS)
    analytic = backprop(R.copy())
    buffer.zero_grad()
    numeric = numerical_gradient(lambda: float(np.sum(R * net(X, LENGTHS))), X)
    assert relative_error(analytic, numeric) < 1e-6
    assert not analytic[~MASK].any()                            # padding gets exactly zero gradient


def test_max_over_time_routes_the_gradient_to_the_argmax():
    Y = np.random.default_rng(3).normal(size=(T, B, F))
    M, backprop = MaxOverTime().forward(Y, LENGTHS)
    dM = np.random.default_rng(4).normal(size=(B, F))
    dY = backprop(dM)
    for b, n in enumerate(LENGTHS):
        a = Y[:n, b].argmax(axis=0)                             # (F,)
        np.testing.assert_array_equal(M[b], Y[a, b, np.arange(F)])
        expected = np.zeros((T, F))
        expected[a, np.arange(F)] = dM[b]
        np.testing.assert_array_equal(dY[:, b], expected)


@pytest.mark.parametrize("window", WINDOWS)
def test_padding_never_wins_the_max(window):
    net, buffer = bound(Sequential(Conv1D(D, F, window, "identity"), MaxOverTime()))
    X = inputs()
    R = np.random.default_rng(5).normal(size=(B, F))
    results = []
    for fill in (None, 1e6, -1e6):
        Xf = X.copy()
        if fill is not None:
            Xf[~MASK] = fill                                    # padded inputs: huge, either sign
        buffer.zero_grad()
        M, backprop = net.forward(Xf, LENGTHS)
        results.append((M, backprop(R), buffer.grad.copy()))
    for M, dX, grad in results[1:]:
        np.testing.assert_array_equal(M, results[0][0])
        np.testing.assert_array_equal(dX, results[0][1])
        np.testing.assert_array_equal(grad, results[0][2])
    # and MaxOverTime alone ignores huge padded values even where every real value is negative
    Y = -np.abs(np.random.default_rng(6).normal(size=(T, B, F)))
    Yf = Y.copy()
    Yf[~MASK] = 1e6
    np.testing.assert_array_equal(MaxOverTime()(Yf, LENGTHS), MaxOverTime()(Y, LENGTHS))


@pytest.mark.parametrize("window", WINDOWS)
def test_padded_batch_equals_its_sequences_one_at_a_time(window):
    net, buffer = bound(Sequential(Conv1D(D, F, window, "tanh"), MaxOverTime()))
    X = inputs()
    R = np.random.default_rng(7).normal(size=(B, F))
    M, backprop = net.forward(X, LENGTHS)
    dX = backprop(R)
    batch_grad = buffer.grad.copy()
    buffer.zero_grad()
    for b, n in enumerate(LENGTHS):
        one, back_one = net.forward(np.ascontiguousarray(X[:n, b:b + 1]), np.array([n]))
        np.testing.assert_allclose(one[0], M[b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(back_one(R[b:b + 1])[:, 0], dX[:n, b], rtol=0, atol=1e-12)
    np.testing.assert_allclose(buffer.grad, batch_grad, rtol=0, atol=1e-12)    # gradients sum over sequences


def test_float32_follows_float64():
    results = {}
    for dtype in (np.float32, np.float64):
        net, buffer = bound(Sequential(Conv1D(D, F, 3, "tanh"), MaxOverTime()), dtype)
        X = inputs().astype(dtype)
        M, backprop = net.forward(X, LENGTHS)
        dX = backprop(np.ones((B, F), dtype=dtype))
        assert M.dtype == dX.dtype == buffer.grad.dtype == dtype
        results[dtype] = (M, dX, buffer.grad.copy())
    for a, b in zip(results[np.float32], results[np.float64]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_no_lengths_means_full_sequences():
    conv, _ = bound(Conv1D(D, F, 3))
    X = inputs()
    np.testing.assert_array_equal(conv(X), conv(X, np.full(B, T)))
    np.testing.assert_array_equal(MaxOverTime()(conv(X)), conv(X).max(axis=0))


def test_parameter_count_and_buffer_views():
    k = 3
    conv = Conv1D(30, 30, k, "tanh")
    assert conv.n_params == k * 30 * 30 + 30
    net = Sequential(conv, MaxOverTime())
    buffer = ParamBuffer(net, np.float32, seed=0)
    assert len(buffer) == net.n_params == conv.n_params
    assert conv.p["W"].shape == (k, 30, 30) and np.shares_memory(conv.p["W"], buffer.data)
    assert conv.g["b"].shape == (30,) and np.shares_memory(conv.g["b"], buffer.grad)
    assert not conv.p["b"].any() and conv.p["W"].any()


def test_bad_arguments_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="activation must be one of .*, got 'softmax'"):
        Conv1D(D, F, 3, "softmax")
    with pytest.raises(ValueError, match="window must be at least 1, got 0"):
        Conv1D(D, F, 0)
    conv, _ = bound(Conv1D(D, F, 3))
    with pytest.raises(ValueError, match=r"Conv1D expects inputs of shape \(T, B, 3\), got shape \(7, 5, 2\)"):
        conv(np.zeros((T, B, 2)), LENGTHS)
    with pytest.raises(ValueError, match=r"lengths must lie in 1..7 \(the padded length\), got 0..7"):
        conv(inputs(), np.array([7, 0, 2, 5, 3]))
    with pytest.raises(ValueError, match=r"MaxOverTime expects inputs of shape \(T, B, F\), got shape \(7, 5\)"):
        MaxOverTime()(np.zeros((T, B)), LENGTHS)
