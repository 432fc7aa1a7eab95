"""An exponential moving average of all parameters, for evaluating and saving a smoothed model.

After each optimiser step ``average += (1 - d) * (data - average)`` over the whole flat buffer, with
``d = min(decay, (1 + n) / (10 + n))`` at update ``n`` (0-based), so the first updates, when the average
still holds the initial weights, are not dominated by them. Small-batch training ends anywhere in the
noise around a good solution; the average sits nearer its middle (Polyak & Juditsky 1992).

:meth:`swapped` puts the average into the buffer for a while (dev evaluation, saving the model) and the
trained values back afterwards, bit for bit; nothing is allocated per step.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .params import ParamBuffer


class ParameterAverage:
    """Exponential moving average of ``buffer.data``.

    Parameters
    ----------
    buffer : ParamBuffer
    decay : float in (0, 1)
        Weight of the old average at each update (0.999 averages over roughly the last 1000 steps).
    """

    def __init__(self, buffer: ParamBuffer, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"the averaging decay must be in (0, 1), got {decay}")
        self.buffer, self.decay = buffer, decay
        self.average = buffer.data.copy()
        self.n = 0  # updates so far
        self._scratch = np.empty_like(buffer.data)

    def update(self) -> None:
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        np.subtract(self.buffer.data, self.average, out=self._scratch)
        self._scratch *= 1 - d
        self.average += self._scratch
        self.n += 1

    @contextlib.contextmanager
    def swapped(self):
        """The averaged parameters in the buffer inside the block, the trained ones again after it."""
        data = self.buffer.data
        np.copyto(self._scratch, data)
        np.copyto(data, self.average)
        try:
            yield
        finally:
            np.copyto(data, self._scratch)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"average": self.average, "n": np.array(self.n, dtype=np.int64)}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"average", "n"}:
            raise ValueError(f"expected the arrays ['average', 'n'], found {sorted(state)}")
        saved = np.asarray(state["average"])
        if saved.shape != self.average.shape:
            raise ValueError(f"the average has shape {saved.shape}, expected {self.average.shape}")
        self.average[...] = saved
        self.n = int(state["n"])
