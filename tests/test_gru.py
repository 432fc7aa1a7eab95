"""GRU: an independent per-step reference, both kernels, parameters."""
import numpy as np
import pytest

from nertag.net.gru import GRU
from nertag.net.params import ParamBuffer


def make(D=3, H=4, kernel="cython", dtype=np.float64, seed=0):
    layer = GRU(D, H, kernel=kernel)
    buffer = ParamBuffer(layer, dtype, seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.6, size=buffer.data.size)
    return layer, buffer


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_gru(x, h, W, U, b, c):
    """One sequence, one step at a time, gate by gate, written straight from Cho et al. (2014)."""
    H = h.shape[0]
    Wr, Wz, Wn = W[:, :H], W[:, H: 2 * H], W[:, 2 * H:]
    Ur, Uz, Un = U[:, :H], U[:, H: 2 * H], U[:, 2 * H:]
    br, bz, bn = b[:H], b[H: 2 * H], b[2 * H:]
    cr, cz, cn = c[:H], c[H: 2 * H], c[2 * H:]
    outputs = []
    for x_t in x:
        r = sigmoid(x_t @ Wr + br + h @ Ur + cr)
        z = sigmoid(x_t @ Wz + bz + h @ Uz + cz)
        n = np.tanh(x_t @ Wn + bn + r * (h @ Un + cn))
        h = (1 - z) * n + z * h
        outputs.append(h)
    return np.array(outputs), h


@pytest.mark.parametrize("kernel", ["cython", "numpy"])
def test_matches_a_per_step_reference(kernel):
    layer, _ = make(kernel=kernel)
    rng = np.random.default_rng(1)
    lengths = np.array([5, 1, 3, 2, 5])
    X, h0 = rng.normal(size=(6, 5, 3)), rng.normal(size=(5, 4))
    Y, h_last, _ = layer.run(X, lengths, h0)
    for j, L in enumerate(lengths):
        Y_ref, h_ref = reference_gru(X[:L, j], h0[j], *(layer.p[k] for k in "WUbc"))
        np.testing.assert_allclose(Y[:L, j], Y_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_last[j], h_ref, rtol=0, atol=1e-12)
        assert np.all(Y[L:, j] == 0)


def test_all_kernels_give_the_same_gradients():
    rng = np.random.default_rng(4)
    X, lengths, dY = rng.normal(size=(6, 4, 3)), np.array([6, 2, 5, 1]), rng.normal(size=(6, 4, 4))
    results = []
    for kernel in ("cython", "numpy"):
        layer, buffer = make(kernel=kernel)
        Y, _, backprop = layer.run(X, lengths)
        dX, dh0 = backprop(dY)
        results.append((Y, dX, dh0, buffer.grad.copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_saturated_gates_stay_finite():
    layer, _ = make()
    X = np.full((3, 2, 3), 1e3)
    X[:, 1] = -1e3
    with np.errstate(all="raise"):
        Y, _, backprop = layer.run(X)
        dX, _ = backprop(np.ones_like(Y))
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(dX))


def test_parameters_count_shapes_and_init():
    D, H = 7, 5
    layer = GRU(D, H)
    assert layer.n_params == 3 * (D * H + H * H + 2 * H)
    buffer = ParamBuffer(layer, np.float64, seed=0)
    assert [s.shape for s in layer.specs] == [(D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)]
    for block in np.split(layer.p["U"], 3, axis=1):                 # orthogonal per gate block
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    assert np.all(layer.p["b"] == 0) and np.all(layer.p["c"] == 0)
    assert [s.decay for s in layer.specs] == [True, True, False, False]
    assert buffer.decay_mask.sum() == D * 3 * H + H * 3 * H


def test_float32_parameters_keep_float32_throughout():
    layer, _ = make(dtype=np.float32)
    Y, h_last, backprop = layer.run(np.ones((4, 2, 3)), np.array([4, 2]))
    dX, dh0 = backprop(np.ones_like(Y), np.ones_like(h_last))
    assert {a.dtype for a in (Y, h_last, dX, dh0, layer.g["U"])} == {np.dtype(np.float32)}


def test_unknown_kernel_is_reported():
    with pytest.raises(ValueError, match="kernel must be one of .* got 'fortran'"):
        GRU(3, 4, kernel="fortran")
