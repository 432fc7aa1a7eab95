"""Bidirectional wrapper and reading backwards: per-sequence reversal, composition from two runs, the in-place
path against the textbook gather path, parameters, errors."""
import numpy as np
import pytest

from nertag.net.bidirectional import Bidirectional
from nertag.net.gru import GRU
from nertag.net.lstm import LSTM
from nertag.net.params import ParamBuffer
from nertag.net.rnn import RNN


def reverse_index(lengths: np.ndarray, T: int) -> np.ndarray:
    """``rev`` (T, B): ``X[rev, arange(B)]`` reverses each sequence within its own length, padding in place."""
    t = np.arange(T)[:, None]                                      # (T, 1)
    return np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)


def test_reverse_index_reverses_within_each_length():
    rev = reverse_index(np.array([3, 1, 2]), 4)
    np.testing.assert_array_equal(rev, [[2, 0, 1],
                                        [1, 1, 0],
                                        [0, 2, 2],
                                        [3, 3, 3]])
    np.testing.assert_array_equal(np.take_along_axis(rev, rev, axis=0), np.broadcast_to(np.arange(4)[:, None], rev.shape))


def test_outputs_are_the_forward_run_and_the_reversed_backward_run():
    layer = Bidirectional(GRU(3, 4), GRU(3, 2))
    buffer = ParamBuffer(layer, np.float64, seed=0)
    buffer.data[:] = np.random.default_rng(0).normal(scale=0.6, size=buffer.data.size)
    rng = np.random.default_rng(1)
    lengths = np.array([5, 1, 3, 2])
    X, h0 = rng.normal(size=(5, 4, 3)), rng.normal(size=(4, 6))
    Y, h_last, _ = layer.run(X, lengths, h0)
    assert Y.shape == (5, 4, 6) and h_last.shape == (4, 6)
    for b, L in enumerate(lengths):
        Y_f, h_f, _ = layer.fwd.run(X[:L, b: b + 1], None, h0[b: b + 1, :4])
        Y_b, h_b, _ = layer.bwd.run(X[:L, b: b + 1][::-1], None, h0[b: b + 1, 4:])
        np.testing.assert_allclose(Y[:L, b], np.concatenate([Y_f, Y_b[::-1]], axis=2)[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_last[b], np.concatenate([h_f, h_b], axis=1)[0], rtol=0, atol=1e-12)
        assert np.all(Y[L:, b] == 0)
    # the backward summary of a sequence is the backward output at its position 0
    np.testing.assert_array_equal(h_last[:, 4:], Y[0, :, 4:])
    np.testing.assert_array_equal(h_last[:, :4], Y[lengths - 1, np.arange(4), :4])


def test_parameter_count_is_that_of_both_layers():
    assert Bidirectional(lambda: GRU(100, 100)).n_params == 2 * GRU(100, 100).n_params
    assert Bidirectional(GRU(5, 3), RNN(5, 2)).n_params == GRU(5, 3).n_params + RNN(5, 2).n_params
    layer = Bidirectional(lambda: GRU(5, 3))
    assert layer.fwd is not layer.bwd and layer.n_out == 6
    assert len(ParamBuffer(layer, np.float64)) == layer.n_params


def test_bad_construction_and_inputs_are_reported():
    with pytest.raises(ValueError, match="two layers, or one factory"):
        Bidirectional(GRU(3, 4))
    with pytest.raises(ValueError, match="same input size, got 3 and 5"):
        Bidirectional(GRU(3, 4), GRU(5, 4))
    gru = GRU(3, 4)
    with pytest.raises(ValueError, match="distinct layers"):
        Bidirectional(gru, gru)
    layer = Bidirectional(lambda: GRU(3, 4))
    ParamBuffer(layer, np.float64)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 8\), got \(2, 4\)"):
        layer.run(np.zeros((5, 2, 3)), h0=np.zeros((2, 4)))


@pytest.mark.parametrize("make", [lambda: GRU(3, 4), lambda: GRU(3, 4, kernel="numpy"), lambda: RNN(3, 4)],
                         ids=["gru", "gru-numpy", "rnn"])
def test_reversed_run_equals_a_run_on_reversed_sequences(make):
    layer = make()
    buffer = ParamBuffer(layer, np.float64, seed=0)
    buffer.data[:] = np.random.default_rng(0).normal(scale=0.6, size=buffer.data.size)
    rng = np.random.default_rng(2)
    lengths = np.array([3, 5, 1, 4])
    X, dY, dh_last = rng.normal(size=(6, 4, 3)), rng.normal(size=(6, 4, 4)), rng.normal(size=(4, 4))
    rev, cols = reverse_index(lengths, 6), np.arange(4)
    Y, h_last, backprop = layer.run(X, lengths, reverse=True)
    dX, dh0 = backprop(dY, dh_last)
    grad = buffer.grad.copy()
    buffer.grad[:] = 0
    Y_ref, h_ref, back_ref = layer.run(X[rev, cols], lengths)
    dX_ref, dh0_ref = back_ref(dY[rev, cols], dh_last)
    np.testing.assert_allclose(Y, Y_ref[rev, cols], atol=1e-12)
    np.testing.assert_allclose(h_last, h_ref, atol=1e-12)
    np.testing.assert_allclose(dX, dX_ref[rev, cols], atol=1e-12)
    np.testing.assert_allclose(dh0, dh0_ref, atol=1e-12)
    np.testing.assert_allclose(grad, buffer.grad, atol=1e-12)


def gather_bidirectional(layer, X, lengths, dY, dh_last):
    """The textbook Bidirectional: the backward layer runs forwards on reversed copies, then re-reversed."""
    T, B, _ = X.shape
    Hf = layer.fwd.n_out
    rev, cols = reverse_index(lengths, T), np.arange(B)
    Y_f, h_f, back_f = layer.fwd.run(X, lengths)
    Y_b, h_b, back_b = layer.bwd.run(X[rev, cols], lengths)
    dX_f, dh0_f = back_f(dY[:, :, :Hf], dh_last[:, :Hf])
    dX_b, dh0_b = back_b(dY[:, :, Hf:][rev, cols], dh_last[:, Hf:])
    return (np.concatenate([Y_f, Y_b[rev, cols]], axis=2), np.concatenate([h_f, h_b], axis=1),
            dX_f + dX_b[rev, cols], np.concatenate([dh0_f, dh0_b], axis=1))


def test_bidirectional_in_place_equals_the_gather_path():
    rng = np.random.default_rng(3)
    lengths = np.array([2, 5, 5, 1])
    X, dY, dh_last = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 4, 8)), rng.normal(size=(4, 8))
    results = []
    for in_place in (True, False):
        layer = Bidirectional(lambda: GRU(3, 4))
        buffer = ParamBuffer(layer, np.float64, seed=0)
        if in_place:
            Y, h_last, backprop = layer.run(X, lengths)
            dX, dh0 = backprop(dY, dh_last)
        else:
            Y, h_last, dX, dh0 = gather_bidirectional(layer, X, lengths, dY, dh_last)
        results.append((Y, h_last, dX, dh0, buffer.grad.copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("cell", [GRU, RNN, LSTM])
def test_final_states_only_equal_the_run_with_outputs(cell):
    """``outputs=False`` (a word summary from its characters): no Y, and the same final states and gradients."""
    layer = Bidirectional(lambda: cell(3, 4))
    buffer = ParamBuffer(layer, np.float64, seed=0)
    rng = np.random.default_rng(2)
    lengths = np.array([5, 1, 3, 2, 5])
    X, dh_last = rng.normal(size=(5, 5, 3)), rng.normal(size=(5, 8))
    results = []
    for outputs in (True, False):
        buffer.grad[:] = 0
        Y, h_last, backprop = layer.run(X, lengths, outputs=outputs)
        assert (Y is None) == (not outputs)
        dX, dh0 = backprop(None, dh_last)
        results.append((h_last.copy(), dX.copy(), dh0.copy(), buffer.grad.copy()))
    for with_outputs, without in zip(*results):
        np.testing.assert_array_equal(without, with_outputs)


@pytest.mark.parametrize("cell, kernel", [(GRU, "cython"), (GRU, "numpy"), (RNN, None), (LSTM, "cython"),
                                          (LSTM, "numpy")])
def test_final_states_of_ids_equal_the_run_on_looked_up_rows(cell, kernel):
    """Prediction from ids and a table (the character encoder's path): the final states of running the
    gathered rows, whichever way a layer computes them (the GRU and the LSTM look up rows of table W)."""
    make = (lambda: cell(3, 4, kernel=kernel)) if kernel else (lambda: cell(3, 4))
    layer = Bidirectional(make)
    ParamBuffer(layer, np.float64, seed=0)
    rng = np.random.default_rng(4)
    table = rng.normal(size=(9, 3))
    lengths = np.array([5, 1, 3, 2, 5, 4])
    ids = rng.integers(1, 9, size=(5, 6))
    ids[np.arange(5)[:, None] >= lengths[None, :]] = 0                    # padding id, never read
    expected = layer.run(table[ids], lengths, grad=False)[1]
    np.testing.assert_allclose(layer.final_states_of_ids(ids, table, lengths), expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", [GRU, LSTM])
def test_final_states_of_ids_refuse_ids_outside_the_table(cell):
    layer = Bidirectional(lambda: cell(3, 4))
    ParamBuffer(layer, np.float64, seed=0)
    with pytest.raises(ValueError, match=r"ids must lie in 0..8, got 0..9"):
        layer.final_states_of_ids(np.array([[0], [9]]), np.zeros((9, 3)))
    with pytest.raises(ValueError, match="integer"):
        layer.final_states_of_ids(np.zeros((2, 1)), np.zeros((9, 3)))
