"""Optimisers reach known minima, Adam follows its formula exactly, clipping/decay/sparse rows behave."""
import numpy as np
import pytest

from nertag.net import Embedding, ParamBuffer, Sequential, Dense
from nertag.net.layer import Layer
from nertag.net.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSProp
from nertag.net.schedules import InverseTimeDecay


class Point(Layer):
    """A bare parameter vector, for optimising plain functions."""

    def __init__(self, x0):
        super().__init__()
        self.param("x", (len(x0),), lambda rng, shape: np.array(x0, dtype=float))


def rosenbrock(x):
    f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
    return f, g


def quadratic(x):
    """An ill-conditioned bowl with its minimum at (3, -2)."""
    d = x - np.array([3.0, -2.0])
    scales = np.array([1.0, 10.0])
    return float(np.sum(scales * d * d)), 2 * scales * d


def minimise(make, fn, steps, x0=(-1.2, 1.0)):
    point = Point(x0)
    buffer = ParamBuffer(point, np.float64)
    opt = make(buffer)
    for _ in range(steps):
        buffer.zero_grad()
        point.g["x"] += fn(point.p["x"])[1]
        opt.step()
    return point.p["x"]


OPTIMISERS = {
    "sgd": (lambda b: SGD(b, 1e-3), 50000),
    "momentum": (lambda b: Momentum(b, 1e-4, 0.9), 20000),
    "nesterov": (lambda b: Nesterov(b, 1e-4, 0.9), 20000),
    "adagrad": (lambda b: AdaGrad(b, 0.5), 20000),
    "rmsprop": (lambda b: RMSProp(b, InverseTimeDecay(1e-3, decay=1e-3)), 20000),
    "adam": (lambda b: Adam(b, 0.02), 20000),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_reaches_rosenbrock_minimum(name):
    make, steps = OPTIMISERS[name]
    np.testing.assert_allclose(minimise(make, rosenbrock, steps), [1.0, 1.0], atol=1e-2)


@pytest.mark.parametrize("name", OPTIMISERS)
def test_reaches_quadratic_minimum(name):
    make = {"sgd": lambda b: SGD(b, 0.04), "momentum": lambda b: Momentum(b, 0.01),
            "nesterov": lambda b: Nesterov(b, 0.01), "adagrad": lambda b: AdaGrad(b, 1.0),
            "rmsprop": lambda b: RMSProp(b, InverseTimeDecay(0.01, decay=0.01)),
            "adam": lambda b: Adam(b, InverseTimeDecay(0.1, decay=0.01))}[name]
    np.testing.assert_allclose(minimise(make, quadratic, 3000, x0=(0.0, 0.0)), [3.0, -2.0], atol=1e-3)


def test_adam_first_steps_equal_the_formula():
    rng = np.random.default_rng(0)
    point = Point(rng.normal(size=5))
    buffer = ParamBuffer(point, np.float64)
    opt = Adam(buffer, lr=0.01, beta1=0.8, beta2=0.95, eps=1e-7)
    x = point.p["x"].copy()
    m = np.zeros(5)
    v = np.zeros(5)
    for t in range(1, 6):
        g = rng.normal(size=5)
        buffer.zero_grad()
        point.g["x"] += g
        opt.step()
        m = 0.8 * m + 0.2 * g
        v = 0.95 * v + 0.05 * g * g
        x = x - 0.01 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.95 ** t)) + 1e-7)
        np.testing.assert_allclose(point.p["x"], x, rtol=0, atol=1e-12)


def test_updates_happen_in_place_on_the_one_buffer():
    net = Sequential(Embedding(7, 3), Dense(3, 2))
    buffer = ParamBuffer(net, np.float64)
    data_before = buffer.data
    opt = Adam(buffer, 0.1)
    Y, backprop = net.forward(np.array([[1, 2], [3, 0]]), np.array([2, 1]))
    backprop(np.ones_like(Y))
    opt.step()
    assert buffer.data is data_before
    for layer in net.walk():
        for view in layer.p.values():
            assert np.shares_memory(view, buffer.data)


def test_global_norm_clipping():
    point = Point([0.0, 0.0])
    buffer = ParamBuffer(point, np.float64)
    opt = SGD(buffer, 1.0, clip_norm=1.0)
    point.g["x"] += [30.0, 40.0]
    opt.step()
    assert opt.last_grad_norm == pytest.approx(50.0)
    np.testing.assert_allclose(point.p["x"], [-0.6, -0.8])


def test_weight_decay_skips_biases_and_embeddings():
    net = Sequential(Embedding(4, 2), Dense(2, 2))
    buffer = ParamBuffer(net, np.float64, seed=1)
    emb, dense = net.children
    dense.p["b"][...] = 1.0
    emb.touch("W", np.array([0, 1, 2, 3]))
    W, b, E = dense.p["W"].copy(), dense.p["b"].copy(), emb.p["W"].copy()
    SGD(buffer, 0.1, weight_decay=0.5).step()  # zero gradients: only decay moves anything
    np.testing.assert_allclose(dense.p["W"], W * (1 - 0.05))
    np.testing.assert_allclose(dense.p["b"], b)
    np.testing.assert_allclose(emb.p["W"], E)


def decayed_run(make, steps=5, **penalty):
    """Parameters of a Dense(3, 2) after ``steps`` steps of a fixed gradient under one penalty."""
    net = Dense(3, 2)
    buffer = ParamBuffer(net, np.float64, seed=4)
    net.p["b"][...] = 1.0
    opt = make(buffer, **penalty)
    for _ in range(steps):
        buffer.zero_grad()
        net.g["W"] += np.arange(6.0).reshape(3, 2) - 2.5
        net.g["b"] += 0.5
        opt.step()
    return net.p["W"].copy(), net.p["b"].copy()


OPTIMISER_MAKERS = {"sgd": lambda b, **k: SGD(b, 0.1, **k), "momentum": lambda b, **k: Momentum(b, 0.1, **k),
                    "nesterov": lambda b, **k: Nesterov(b, 0.1, **k), "adagrad": lambda b, **k: AdaGrad(b, 0.1, **k),
                    "rmsprop": lambda b, **k: RMSProp(b, 0.1, **k), "adam": lambda b, **k: Adam(b, 0.1, **k)}


@pytest.mark.parametrize("name", OPTIMISER_MAKERS)
def test_coupled_l2_is_the_penalty_gradient_added_to_the_gradient(name):
    """l2=c gives the updates of the same optimiser fed g + c p by hand (on weights, never on biases)."""
    make = OPTIMISER_MAKERS[name]
    net = Dense(3, 2)
    buffer = ParamBuffer(net, np.float64, seed=4)
    net.p["b"][...] = 1.0
    by_hand = make(buffer)
    for _ in range(5):
        buffer.zero_grad()
        net.g["W"] += np.arange(6.0).reshape(3, 2) - 2.5 + 0.3 * net.p["W"]
        net.g["b"] += 0.5
        by_hand.step()
    W, b = decayed_run(make, l2=0.3)
    np.testing.assert_allclose(W, net.p["W"], rtol=1e-12)
    np.testing.assert_array_equal(b, net.p["b"])


def test_coupled_l2_and_decoupled_weight_decay_agree_for_sgd():
    W_l2, b_l2 = decayed_run(OPTIMISER_MAKERS["sgd"], l2=0.3)
    W_wd, b_wd = decayed_run(OPTIMISER_MAKERS["sgd"], weight_decay=0.3)
    np.testing.assert_allclose(W_l2, W_wd, rtol=1e-12)
    np.testing.assert_array_equal(b_l2, b_wd)
    assert not np.allclose(W_l2, decayed_run(OPTIMISER_MAKERS["sgd"])[0])  # the penalty did something


def test_coupled_l2_and_decoupled_weight_decay_differ_for_adam():
    """Adam divides the L2 gradient by sqrt(v); AdamW's decay is not rescaled (Loshchilov & Hutter 2019)."""
    W_l2, _ = decayed_run(OPTIMISER_MAKERS["adam"], l2=0.3)
    W_wd, _ = decayed_run(OPTIMISER_MAKERS["adam"], weight_decay=0.3)
    assert np.abs(W_l2 - W_wd).max() > 1e-3
    # one step from W0 with gradient G: AdamW moves by lr*sign(G) + lr*wd*W0, Adam+L2 by lr*sign(G + l2*W0)
    net = Dense(3, 2)
    ParamBuffer(net, np.float64, seed=4)
    W0, G = net.p["W"].copy(), np.arange(6.0).reshape(3, 2) - 2.5
    W_l2, _ = decayed_run(OPTIMISER_MAKERS["adam"], steps=1, l2=0.3)
    W_wd, _ = decayed_run(OPTIMISER_MAKERS["adam"], steps=1, weight_decay=0.3)
    np.testing.assert_allclose(W_wd, W0 - 0.1 * 0.3 * W0 - 0.1 * np.sign(G), atol=1e-6)
    np.testing.assert_allclose(W_l2, W0 - 0.1 * np.sign(G + 0.3 * W0), atol=1e-6)


def test_coupled_l2_reaches_embedding_rows_only_with_decay_embeddings():
    for decay_embeddings in (False, True):
        emb = Embedding(4, 2)
        buffer = ParamBuffer(emb, np.float64, seed=1)
        E = emb.p["W"].copy()
        emb.touch("W", np.array([1, 2]))
        SGD(buffer, 0.1, l2=0.5, decay_embeddings=decay_embeddings).step()  # zero data gradient
        expected = E.copy()
        if decay_embeddings:
            expected[[1, 2]] *= 1 - 0.05
        np.testing.assert_allclose(emb.p["W"], expected)


def test_sparse_update_touches_only_used_rows_and_their_state():
    emb = Embedding(6, 3)
    buffer = ParamBuffer(emb, np.float64)
    opt = Adam(buffer, 0.1)
    before = emb.p["W"].copy()
    ids = np.array([[1, 4], [4, 5]])
    Y, backprop = emb.forward(ids, np.array([2, 1]))   # position (1, 1) = id 5 is padding
    backprop(np.ones_like(Y))
    opt.step()
    changed = np.flatnonzero(np.any(emb.p["W"] != before, axis=1))
    np.testing.assert_array_equal(changed, [1, 4])
    m = opt.state["m"][buffer.n_dense:].reshape(6, 3)
    np.testing.assert_array_equal(np.flatnonzero(np.any(m != 0, axis=1)), [1, 4])
    buffer.zero_grad()
    assert not emb.g["W"].any() and not buffer.touched_rows(buffer.sparse[0]).size


@pytest.mark.parametrize("make", [lambda b: Momentum(b, 0.1), lambda b: Adam(b, 0.1), lambda b: AdaGrad(b, 0.1)])
def test_state_save_and_restore_continues_identically(make):
    rng = np.random.default_rng(3)
    grads = rng.normal(size=(6, 4))

    def run(split):
        point = Point(np.zeros(4))
        buffer = ParamBuffer(point, np.float64)
        opt = make(buffer)
        for i, g in enumerate(grads):
            if i == split:  # rebuild the optimiser from saved state mid-run
                state = {k: v.copy() for k, v in opt.state_dict().items()}
                opt = make(buffer)
                opt.load_state_dict(state)
            buffer.zero_grad()
            point.g["x"] += g
            opt.step()
        return point.p["x"]

    np.testing.assert_array_equal(run(split=None), run(split=3))


def test_load_state_rejects_wrong_shapes():
    opt = Adam(ParamBuffer(Point([0.0, 0.0]), np.float64))
    with pytest.raises(ValueError, match="optimiser slot 'm' has shape \\(3,\\), expected \\(2,\\)"):
        opt.load_state_dict({"t": 1, "slot.m": np.zeros(3), "slot.v": np.zeros(2)})


def test_load_state_rejects_another_optimisers_slots():
    buffer = ParamBuffer(Point([0.0, 0.0]), np.float64)
    momentum_state = Momentum(buffer, 0.1).state_dict()
    expected = r"expected the slots \['slot.m', 'slot.v', 't'\], found \['slot.velocity', 't'\]"
    with pytest.raises(ValueError, match=expected):
        Adam(buffer).load_state_dict(momentum_state)
    with pytest.raises(ValueError, match="found"):
        Adam(buffer).load_state_dict({**Adam(buffer).state_dict(), "slot.velocity": np.zeros(2)})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_compiled_adam_and_average_passes_give_the_bits_of_their_numpy_twins(dtype, n):
    from nertag.net import _optim, optim_numpy
    rng = np.random.default_rng(n)
    state = [rng.normal(size=n).astype(dtype) for _ in range(2)] + [np.zeros(n, dtype), np.zeros(n, dtype)]
    twin = [a.copy() for a in state]
    for t in range(1, 6):
        g = (rng.normal(size=n) * 10.0 ** rng.integers(-6, 3, size=n)).astype(dtype)
        _optim.adam_update(state[0], g, state[2], state[3], 0.9, 0.999, 1e-8, 0.0123, t)
        optim_numpy.adam_update(twin[0], g, twin[2], twin[3], 0.9, 0.999, 1e-8, 0.0123, t)
        _optim.ema_update(state[1], state[0], 1 - min(0.999, (1 + t) / (10 + t)))
        optim_numpy.ema_update(twin[1], twin[0], 1 - min(0.999, (1 + t) / (10 + t)))
        for a, b in zip(state, twin):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_adam_kernels_train_a_network_to_the_same_bits():
    """Dense part and lazily updated embedding rows, with clipping: both kernels, bit for bit."""
    results = []
    for kernel in ("cython", "numpy"):
        net = Sequential(Embedding(20, 4), Dense(4, 3))
        buffer = ParamBuffer(net, np.float32, seed=0)
        opt = Adam(buffer, InverseTimeDecay(0.05, 0.1, 3), clip_norm=1.0, kernel=kernel)
        rng = np.random.default_rng(0)
        for _ in range(12):
            buffer.zero_grad()
            ids = rng.integers(0, 20, size=(5, 2))
            Y, backprop = net.forward(ids, None, None)
            backprop(rng.normal(size=Y.shape).astype(np.float32))
            opt.step()
        results.append(buffer.data.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_unknown_optimiser_kernel_is_reported():
    with pytest.raises(ValueError, match="kernel must be one of"):
        Adam(ParamBuffer(Point([0.0]), np.float64), kernel="fortran")
