"""Sequential composition: the output of each layer feeds the next."""
from __future__ import annotations

from .layer import Layer


class Sequential(Layer):
    """Run ``layers`` in order; backward runs their backprops in reverse.

    Every layer receives the same ``lengths`` and ``rng``.
    """

    def __init__(self, *layers: Layer):
        super().__init__()
        for layer in layers:
            self.add(layer)

    def forward(self, X, lengths=None, rng=None):
        backprops = []
        for layer in self.children:
            X, backprop = layer.forward(X, lengths, rng)
            backprops.append(backprop)

        def backprop(dY):
            for step in reversed(backprops):
                dY = step(dY)
            return dY

        return X, backprop
