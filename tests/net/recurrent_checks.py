"""Checks every recurrent layer must pass, shared by test_rnn.py, test_gru.py and test_lstm.py.

Not a test module: pytest puts this directory on ``sys.path``, so the tests import it by name.
"""
from __future__ import annotations

import numpy as np


def assert_scans_agree(compiled: dict, twin: dict, atol: float, rtol: float = 0.0, *, finite: bool = True) -> None:
    """Every array two runs of a scan wrote (``run_scan``/``run_scans`` results) agrees; with ``finite``, the
    first's are finite everywhere (every entry written, padding included)."""
    for name in compiled:
        if finite:
            assert np.all(np.isfinite(compiled[name])), name
        np.testing.assert_allclose(compiled[name], twin[name], rtol=rtol, atol=atol, err_msg=name)


def assert_padded_batch_equals_sequences_one_at_a_time(layer, buffer, n_in: int, atol: float) -> None:
    """Outputs, final states and every gradient of a padded batch equal those of its sequences run alone."""
    T, lengths = 7, np.array([6, 1, 4, 2, 6, 3])                   # unsorted, and a trailing all-padding step
    rng = np.random.default_rng(3)
    X = rng.normal(size=(T, len(lengths), n_in))
    h0 = rng.normal(size=(len(lengths), layer.n_out))
    dY = rng.normal(size=(T, len(lengths), layer.n_out))           # nonzero at padding: must be ignored
    dh_last = rng.normal(size=h0.shape)

    buffer.zero_grad()
    Y, h_last, backprop = layer.run(X, lengths, h0)
    dX, dh0 = backprop(dY, dh_last)
    grads = buffer.grad.copy()

    buffer.zero_grad()
    for b, L in enumerate(lengths):
        Y_b, h_b, back_b = layer.run(X[:L, b: b + 1], None, h0[b: b + 1])
        dX_b, dh0_b = back_b(dY[:L, b: b + 1], dh_last[b: b + 1])
        np.testing.assert_allclose(Y[:L, b], Y_b[:, 0], rtol=0, atol=atol)
        np.testing.assert_allclose(h_last[b], h_b[0], rtol=0, atol=atol)
        np.testing.assert_allclose(dX[:L, b], dX_b[:, 0], rtol=0, atol=atol)
        np.testing.assert_allclose(dh0[b], dh0_b[0], rtol=0, atol=atol)
        assert np.all(Y[L:, b] == 0) and np.all(dX[L:, b] == 0)    # padding: no output, no gradient
    np.testing.assert_allclose(grads, buffer.grad, rtol=0, atol=atol)


def assert_saturated_gates_stay_finite(layer, n_in: int) -> None:
    """Inputs of +-1000 saturate every gate: outputs and gradients stay finite, no floating-point warning."""
    X = np.full((3, 2, n_in), 1e3)
    X[:, 1] = -1e3
    with np.errstate(all="raise"):
        Y, _, backprop = layer.run(X)
        dX, _ = backprop(np.ones_like(Y))
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(dX))
