"""Padded: the batch layout validated once; what it derives, and the errors raw lengths get."""
import numpy as np
import pytest

from nertag.net import GRU, ParamBuffer
from nertag.net.padded import Padded, as_padded, sequence_mask


def test_derived_arrays():
    padded = Padded.check([2, 4, 1, 4], 5, 4)
    assert padded.lengths.dtype == np.int64 and padded.lengths.flags.c_contiguous
    np.testing.assert_array_equal(padded.mask, sequence_mask(np.array([2, 4, 1, 4]), 5))
    np.testing.assert_array_equal(padded.order, [1, 3, 0, 2])          # longest first, ties stable
    np.testing.assert_array_equal(padded.sorted_lengths, [4, 4, 2, 1])
    t_idx, b_idx = padded.real
    assert len(t_idx) == padded.n_real == 11 and padded.T_real == 4
    assert padded.mask is padded.mask                                   # computed once, then kept
    np.testing.assert_array_equal(Padded.full(3, 2).lengths, [3, 3])
    assert Padded.check(None, 3, 2).lengths.tolist() == [3, 3]
    assert Padded.check(np.zeros(0, int), 4, 0).T_real == 0


def test_raw_lengths_get_clear_errors_and_a_padded_one_is_trusted():
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\) for a batch of 3 sequences, got \(2,\)"):
        Padded.check([1, 2], 4, 3)
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.4 \(the padded length\), got 0\.\.2"):
        Padded.check([0, 2], 4, 2)
    with pytest.raises(ValueError, match="lengths must be integers, got dtype float64"):
        Padded.check([1.0, 2.0], 4, 2)
    padded = Padded.check([1, 2], 4, 2)
    assert as_padded(padded, 4, 2) is padded
    with pytest.raises(AssertionError):
        as_padded(padded, 5, 2)                                        # an internal invariant, not user input


def test_one_layout_serves_every_layer_of_a_batch():
    layer = GRU(3, 4)
    ParamBuffer(layer, np.float64, seed=0)
    X = np.random.default_rng(0).normal(size=(5, 3, 3))
    padded = Padded.check([5, 2, 3], 5, 3)
    Y, _ = layer.forward(X, padded)
    order = padded.order
    Y2, _ = layer.forward(X, padded)
    assert padded.order is order                                       # the sort is not redone per layer
    np.testing.assert_array_equal(Y, Y2)
