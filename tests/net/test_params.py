"""ParamBuffer: initialisation on request only (loading saved weights skips it)."""
from __future__ import annotations

import numpy as np

from nertag.net.layer import Layer
from nertag.net.params import ParamBuffer


class Probe(Layer):
    """A layer whose initialiser counts its calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.param("W", (3, 2), self.init)

    def init(self, rng, shape):
        self.calls += 1
        return np.full(shape, 7.0)


def test_initialisers_run_by_default():
    layer = Probe()
    buffer = ParamBuffer(layer, np.float64)
    assert layer.calls == 1
    assert np.all(buffer.data == 7.0)


def test_initialise_false_leaves_zeros_and_calls_no_initialiser():
    layer = Probe()
    buffer = ParamBuffer(layer, np.float64, initialise=False)
    assert layer.calls == 0
    assert np.all(buffer.data == 0) and layer.p["W"].base is not None
